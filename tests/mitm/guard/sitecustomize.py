"""Imported at start by mitmdump's interpreter (PYTHONPATH points here): no
name resolution at all in that process.

``socket.getaddrinfo`` (which asyncio's ``open_connection`` and every other
Python resolver path ends in) accepts only IP literals; any name is logged to
``NETCHECK_MITM_LOG`` and refused, so a lab name that slipped past the addon
fails the connection instead of reaching the system resolver. The tests
assert the log has no ``resolve`` line.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

_real_getaddrinfo = socket.getaddrinfo


def _literal(host: Any) -> bool:
    if host is None:
        return True  # a wildcard bind: no lookup
    text = host.decode() if isinstance(host, bytes) else str(host)
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _literal(host):
        path = os.environ.get("NETCHECK_MITM_LOG")
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(f"resolve {host!r} refused\n")
        raise socket.gaierror(socket.EAI_NONAME, f"netcheck lab: no DNS for {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _guarded_getaddrinfo
