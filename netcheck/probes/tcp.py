"""The TCP phase: open one connection to the target, or say why it failed.

The connection it opens is handed to the next phase (proxy CONNECT, TLS) and
reused up to the application phase; the runner closes it.

What the firewall team reads from each outcome, and where it comes from::

    tcp.timeout             SYN unanswered within the timeout (DROP rule)
    tcp.refused             ECONNREFUSED: an RST answered the SYN (REJECT rule,
                            or nothing listening)
    tcp.unreachable         EHOSTUNREACH / ENETUNREACH: ICMP unreachable or no
                            route in this host's table
    tcp.reset               ECONNRESET while opening
    tcp.family_unavailable  an IPv6 target on a host without IPv6 connectivity
                            (no IPv6 route, EAFNOSUPPORT, EADDRNOTAVAIL): skipped
    tcp.error               anything else (EACCES/EPERM from a local firewall...)

:func:`error_code` is the one place that maps an exception to a code.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

from netcheck.model import PhaseResult
from netcheck.probes.base import Connection, ProbeContext, Prober, outcome

PHASE = "tcp"

# A global-unicast address from the documentation prefix (RFC 3849). A UDP
# connect() only looks the route up and sends nothing, so asking the kernel for
# a route to it tells whether this host has IPv6 connectivity at all.
_V6_ROUTE_PROBE = "2001:db8::1"

_UNREACHABLE = {errno.EHOSTUNREACH, errno.EHOSTDOWN, getattr(errno, "ENONET", -1)}
_FAMILY = {errno.EAFNOSUPPORT, errno.EPFNOSUPPORT, errno.EADDRNOTAVAIL}


async def connect(host_or_ip: str, port: int, timeout: float) -> Connection:
    """Open a TCP connection; raises ``OSError``/``TimeoutError`` on failure.

    Used by :func:`run`, by the runner to reach a proxy, and by the runner's
    ``ProbeContext.reconnect``. A literal IP never goes through the resolver
    (asyncio recognises it), so probing a target sends no DNS query.
    """
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host_or_ip, port)
    return Connection(reader, writer)


def ipv6_routed() -> bool:
    """Whether this host has a route for global IPv6 (no packet is sent)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.connect((_V6_ROUTE_PROBE, 9))
    except OSError:
        return False
    return True


def error_code(exc: BaseException, *, ipv6: bool,
               ipv6_routed: Callable[[], bool] = ipv6_routed) -> tuple[str, str]:
    """Map a connect failure to ``(code, reason)``; the only such mapping.

    ``ipv6_routed`` is asked only for an IPv6 target whose error may mean "this
    host has no IPv6 at all" (DESIGN: such a target is skipped, not failed).
    An IPv4 ENETUNREACH is always ``tcp.unreachable``: IPv4 is the baseline
    every published address assumes, and a host without a default route (one
    that only reaches out through a proxy) must see its direct targets fail.
    """
    if isinstance(exc, TimeoutError) and getattr(exc, "errno", None) in (None, errno.ETIMEDOUT):
        return "tcp.timeout", "no answer to the SYN"
    if isinstance(exc, socket.gaierror):
        return "tcp.error", f"cannot resolve the address ({exc.strerror})"
    if not isinstance(exc, OSError):
        return "tcp.error", f"{type(exc).__name__}: {exc}"
    code = exc.errno
    reason = exc.strerror or str(exc) or type(exc).__name__
    if code == errno.ECONNREFUSED:
        return "tcp.refused", "connection refused (RST)"
    if code == errno.ECONNRESET:
        return "tcp.reset", "connection reset while opening"
    if code in _UNREACHABLE:
        return "tcp.unreachable", reason
    if ipv6 and (code == errno.ENETUNREACH or code in _FAMILY) and not ipv6_routed():
        return "tcp.family_unavailable", f"this host has no IPv6 connectivity ({reason})"
    if code == errno.ENETUNREACH:
        return "tcp.unreachable", f"no route to the network ({reason})"
    if code in _FAMILY:
        return "tcp.family_unavailable", f"the address family is not usable here ({reason})"
    return "tcp.error", reason


def _destination(ctx: ProbeContext) -> tuple[str, int]:
    if ctx.ip is not None:
        return ctx.ip, ctx.endpoint.port
    if ctx.options.proxy is not None:
        return ctx.options.proxy.host, ctx.options.proxy.port
    # Connecting by hostname would use the system resolver, which a probe never
    # does behind the runner's back: a context without an IP is a runner bug.
    raise ValueError(f"tcp probe for {ctx.endpoint.name}: no IP and no proxy")


def _is_ipv6(host: str) -> bool:
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).version == 6
    return False


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def run(ctx: ProbeContext, conn: Connection | None = None
              ) -> tuple[PhaseResult, Connection | None]:
    host, port = _destination(ctx)
    where = _hostport(host, port)
    data: dict[str, Any] = {"remote": host, "remote_port": port}
    try:
        if ctx.ip is None and ctx.options.proxy is not None:
            from netcheck.probes.proxy import connect_to_proxy

            # TCP to the proxy, and TLS to it for an https:// proxy (a TLS
            # failure there is an OSError too: ssl.SSLError subclasses it).
            new = await connect_to_proxy(ctx.options.proxy, ctx.timeout)
        else:
            new = await connect(host, port, ctx.timeout)
    except (OSError, TimeoutError) as exc:
        code, reason = error_code(exc, ipv6=_is_ipv6(host))
        data["error"] = reason
        if isinstance(exc, OSError) and exc.errno is not None:
            data["errno"] = errno.errorcode.get(exc.errno, str(exc.errno))
        if code == "tcp.timeout":
            detail = f"No answer from {where} within {ctx.timeout:g} s (SYN unanswered)."
        elif code == "tcp.family_unavailable":
            detail = f"Skipped {where}: {reason}."
        else:
            detail = f"TCP to {where} failed: {reason}."
        return outcome(PHASE, code, detail, data), None
    local = new.writer.get_extra_info("sockname") or ("?", 0)
    data.update(local=local[0], local_port=local[1])
    via = " (proxy)" if ctx.ip is None else ""
    detail = f"Connected to {where}{via} from {_hostport(str(local[0]), int(local[1]))}."
    return outcome(PHASE, "tcp.ok", detail, data), new


PROBER = Prober(PHASE, run, "tcp.timeout")
