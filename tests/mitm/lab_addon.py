"""mitmdump addon (``-s lab_addon.py``): upstreams on loopback only, never DNS.

Loaded by mitmproxy's own interpreter (/opt/netcheck-mitm), not by pytest, so
it imports nothing from mitmproxy: hooks get duck-typed objects.

netcheck CONNECTs by hostname, and mitmproxy would then resolve the lab name
through the system resolver (``asyncio.open_connection(host, port)`` in
mitmproxy/proxy/server.py), which the tests must never use. Before every
upstream connection (the ``server_connect`` hook, which runs before that
call), a lab name is rewritten to 127.0.0.1, so getaddrinfo only ever sees an
IP literal, and anything else is refused. Every decision is appended to the
file named by ``NETCHECK_MITM_LOG``, which the tests read back.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

LAB_SUFFIX = ".lab.netcheck.test"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LabOnly:
    def __init__(self) -> None:
        self.log_path = os.environ.get("NETCHECK_MITM_LOG", "")

    def _log(self, line: str) -> None:
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def server_connect(self, data: Any) -> None:
        host, port = data.server.address
        host = str(host).rstrip(".").lower()
        if host.endswith(LAB_SUFFIX) or _loopback(host):
            data.server.address = ("127.0.0.1", port)
            self._log(f"connect {host}:{port} -> 127.0.0.1:{port}")
        else:
            data.server.error = f"netcheck lab: upstream {host}:{port} is not a lab address"
            self._log(f"refused {host}:{port}")


addons = [LabOnly()]
