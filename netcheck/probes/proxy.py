"""The proxy phase: ask an HTTP forward proxy for a CONNECT tunnel.

The runner has already opened TCP (and, for an ``https://`` proxy, TLS) to
the proxy with :func:`connect_to_proxy`. This phase sends::

    CONNECT host:port HTTP/1.1
    Host: host:port
    Proxy-Authorization: Basic ...      (when the proxy URL has credentials)
    User-Agent: netcheck/<version>

and reads the reply head, nothing more: every byte after the blank line
belongs to the tunnel (the TLS ServerHello may follow a 200 in the same
segment), so the head is read line by line from the ``StreamReader`` and
whatever follows stays buffered for the TLS phase. Each line is bounded
(:data:`LINE_LIMIT`) and so is the head (:data:`HEAD_LIMIT`): a hostile or
broken proxy cannot make netcheck buffer without end.

The head is then handed to h11, which does the strict parsing (status line,
header syntax, obsolete line folding) so that none of it is hand-rolled.

Outcomes (DESIGN.md "Proxy"):

========================  =================================================
2xx                       ``proxy.ok``; the same Connection is now the tunnel
407                       ``proxy.auth_required`` (Proxy-Authenticate kept)
3xx, 403 and other 4xx    ``proxy.denied`` (a 3xx is a redirect to a login or
                          block page instead of a tunnel)
502 / 503 / 504           ``proxy.upstream_failed`` (the proxy's own egress)
other 5xx (500, 501, ..)  ``proxy.error``: the proxy failed or does not do
                          CONNECT; an allow-list entry would not fix it
no reply in ctx.timeout   ``proxy.timeout``
closed, reset, not HTTP   ``proxy.error``
========================  =================================================
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import h11

from netcheck import __version__, codes
from netcheck.model import PhaseResult
from netcheck.probes.base import Connection, ProbeContext, Prober, ProxyConfig, outcome
from netcheck.proxyconf import basic_token, redact

PHASE = "proxy"
HEAD_LIMIT = 64 * 1024
LINE_LIMIT = 8 * 1024
# The port that proxies let CONNECT through by default (squid's SSL_ports,
# most appliances' "HTTPS" service): a refusal for any other port is very
# often a port policy, not a host policy.
TLS_PORT = 443
_KEPT_HEADERS = ("server", "via", "x-squid-error", "proxy-authenticate",
                 "proxy-agent", "location")
_SHOWN_CHARS = 200


class ProxyProtocolError(Exception):
    """The proxy's answer is not an HTTP reply to CONNECT."""


class TunnelError(ConnectionError):
    """The proxy did not open the tunnel; carries the proxy phase's result.

    Raised by :func:`open_tunnel` (the reconnect path), where there is no
    phase to report into; it is a ``ConnectionError`` so a probe that maps
    connection failures maps it like any other.
    """

    def __init__(self, result: PhaseResult) -> None:
        super().__init__(result.detail)
        self.result = result


@dataclass(frozen=True, slots=True)
class ProxyReply:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # lowercase names, in order

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


# -- pure: the request, the reply, the verdict ------------------------------

def connect_request(host: str, port: int, proxy: ProxyConfig) -> bytes:
    """The CONNECT request head (RFC 9110 §9.3.6: authority-form target)."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    headers = [("Host", authority), ("User-Agent", f"netcheck/{__version__}")]
    if proxy.username is not None:
        token = basic_token(proxy.username, proxy.password or "")
        headers.append(("Proxy-Authorization", f"Basic {token}"))
    client = h11.Connection(h11.CLIENT)
    return client.send(h11.Request(method="CONNECT", target=authority, headers=headers))


def parse_reply(head: bytes) -> ProxyReply:
    """Parse a complete reply head (status line to blank line).

    Raises ProxyProtocolError when it is not a valid HTTP/1.x response.
    """
    client = h11.Connection(h11.CLIENT)
    # h11 only parses a response to a request it has seen.
    client.send(h11.Request(method="CONNECT", target="netcheck.invalid:443",
                            headers=[("Host", "netcheck.invalid:443")]))
    client.receive_data(head)
    try:
        event = client.next_event()
    except h11.RemoteProtocolError as exc:
        raise ProxyProtocolError(f"invalid HTTP reply ({exc})") from None
    if not isinstance(event, h11.Response | h11.InformationalResponse):
        raise ProxyProtocolError("incomplete HTTP reply head")
    headers = tuple((k.decode("latin-1"), _shown(v.decode("latin-1")))
                    for k, v in event.headers)
    return ProxyReply(event.status_code, _shown(event.reason.decode("latin-1")), headers)


def _shown(text: str) -> str:
    """A proxy-controlled string, bounded before it enters a report."""
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"


def port_hint(port: int) -> str:
    """Why a refused CONNECT to a port other than 443 may be a port policy."""
    if port == TLS_PORT:
        return ""
    return codes.hint("proxy.port_443_only", port=port)


def classify(reply: ProxyReply, proxy: ProxyConfig, host: str, port: int) -> PhaseResult:
    """The phase result for a complete reply to ``CONNECT host:port``."""
    target = f"{host}:{port}"
    answer = f"HTTP {reply.status} {reply.reason}".rstrip()
    data: dict[str, Any] = {
        "proxy": proxy.display, "target": target, "status": reply.status,
        "reason": reply.reason, "headers": _kept(reply), "hint": "",
    }
    extra = _evidence(reply)
    if 200 <= reply.status < 300:
        return outcome(PHASE, "proxy.ok",
                       f"Proxy {proxy.display} opened a tunnel to {target} ({answer}).", data)
    if reply.status == 407:
        schemes = [v.split(None, 1)[0] for v in reply.header("proxy-authenticate") if v.strip()]
        data["auth_schemes"] = schemes
        offered = f" (offers {', '.join(schemes)})" if schemes else ""
        given = ("the credentials given were refused" if proxy.username is not None
                 else "no credentials were given")
        return outcome(PHASE, "proxy.auth_required",
                       f"Proxy {proxy.display} requires authentication{offered} for "
                       f"CONNECT {target}: {given} ({answer}{extra}).", data)
    if reply.status in (502, 503, 504):
        return outcome(PHASE, "proxy.upstream_failed",
                       f"Proxy {proxy.display} could not reach {target} itself "
                       f"({answer}{extra}): the proxy's own egress to it is blocked "
                       f"or the host is down.", data)
    if 300 <= reply.status < 500:
        hint = port_hint(port)
        data["hint"] = hint
        detail = f"Proxy {proxy.display} refused CONNECT {target} ({answer}{extra})."
        return outcome(PHASE, "proxy.denied", f"{detail} {hint}".rstrip(), data)
    return outcome(PHASE, "proxy.error",
                   f"Proxy {proxy.display} failed CONNECT {target} ({answer}{extra}).", data)


def _kept(reply: ProxyReply) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in reply.headers:
        if name in _KEPT_HEADERS:
            kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


def _evidence(reply: ProxyReply) -> str:
    """What in the reply says who answered and why (e.g. X-Squid-Error)."""
    parts = [f"{name}: {value}" for name, value in reply.headers
             if name in ("x-squid-error", "location")]
    return "; " + "; ".join(parts) if parts else ""


# -- I/O ------------------------------------------------------------------

async def read_reply(reader: asyncio.StreamReader) -> ProxyReply:
    """Read exactly one final reply head; bytes after it stay in ``reader``.

    Raises ProxyProtocolError for a reply that is not HTTP or is too large,
    ``asyncio.IncompleteReadError`` when the proxy closes first.
    """
    while True:
        reply = parse_reply(await _read_head(reader))
        # A 1xx (100 Continue) is not the answer; the final reply follows.
        if reply.status >= 200:
            return reply


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    lines: list[bytes] = []
    size = 0
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise ProxyProtocolError(f"a reply line longer than {LINE_LIMIT} bytes") from None
        if len(line) > LINE_LIMIT:
            raise ProxyProtocolError(f"a reply line longer than {LINE_LIMIT} bytes")
        if not lines and not line.startswith(b"HTTP/"):
            # Fail at once on a non-HTTP peer (an SSH banner, a TLS alert).
            raise ProxyProtocolError(f"not an HTTP reply: {_shown(repr(line))}")
        size += len(line)
        if size > HEAD_LIMIT:
            raise ProxyProtocolError(f"a reply head larger than {HEAD_LIMIT} bytes")
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


async def _connect(conn: Connection, proxy: ProxyConfig, host: str, port: int,
                   timeout: float) -> PhaseResult:
    """Send CONNECT and classify the reply; every outcome is a result.

    The one place that maps this phase's exceptions to result codes.
    """
    target = f"{host}:{port}"
    data: Mapping[str, Any] = {"proxy": proxy.display, "target": target, "hint": ""}
    try:
        async with asyncio.timeout(timeout):
            conn.writer.write(connect_request(host, port, proxy))
            await conn.writer.drain()
            reply = await read_reply(conn.reader)
    except TimeoutError:
        return outcome(PHASE, "proxy.timeout",
                       f"Proxy {proxy.display} accepted the connection but did not answer "
                       f"CONNECT {target} within {timeout:g} s.", data)
    except asyncio.IncompleteReadError as exc:
        said = "without answering" if not exc.partial else "in the middle of its reply"
        return outcome(PHASE, "proxy.error",
                       f"Proxy {proxy.display} closed the connection {said} "
                       f"CONNECT {target}.", data)
    except ProxyProtocolError as exc:
        return outcome(PHASE, "proxy.error",
                       redact(f"Proxy {proxy.display} answered CONNECT {target} with "
                              f"something that is not a valid HTTP reply: {exc}.", proxy), data)
    except OSError as exc:  # ssl.SSLError included (TLS to an https:// proxy)
        reason = exc.strerror or str(exc) or type(exc).__name__
        return outcome(PHASE, "proxy.error",
                       redact(f"The connection to proxy {proxy.display} failed during "
                              f"CONNECT {target}: {reason}.", proxy), data)
    return classify(reply, proxy, host, port)


async def run(ctx: ProbeContext, conn: Connection | None
              ) -> tuple[PhaseResult, Connection | None]:
    proxy = ctx.options.proxy
    assert conn is not None and proxy is not None, "the runner opens the proxy connection"
    ep = ctx.endpoint
    result = await _connect(conn, proxy, ep.host, ep.port, ctx.timeout)
    return result, conn if result.code == "proxy.ok" else None


async def connect_to_proxy(proxy: ProxyConfig, timeout: float, *,
                           ssl_context: ssl.SSLContext | None = None) -> Connection:
    """TCP to the proxy, then TLS to it for an ``https://`` proxy.

    The proxy's certificate is verified against the system store (that is
    where an enterprise puts its proxy's CA), unless ``ssl_context`` is
    given. Raises OSError / ssl.SSLError / TimeoutError, for the tcp
    phase's mapping. ``Connection.tls`` stays False: it says whether TLS to
    the *endpoint* is up, and that starts inside the tunnel.
    """
    context: ssl.SSLContext | None = None
    if proxy.scheme == "https":
        context = ssl_context if ssl_context is not None else ssl.create_default_context()
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(
            proxy.host, proxy.port, ssl=context,
            server_hostname=proxy.host if context is not None else None,
            limit=HEAD_LIMIT)
    return Connection(reader=reader, writer=writer)


async def open_tunnel(proxy: ProxyConfig, host: str, port: int, timeout: float, *,
                      ssl_context: ssl.SSLContext | None = None) -> Connection:
    """A fresh tunnel to ``host:port`` (the runner's reconnect path).

    Raises what :func:`connect_to_proxy` raises, or :class:`TunnelError`
    when the proxy does not open the tunnel. ``timeout`` bounds each step.
    """
    conn = await connect_to_proxy(proxy, timeout, ssl_context=ssl_context)
    try:
        result = await _connect(conn, proxy, host, port, timeout)
    except BaseException:  # cancelled: do not leak the socket
        await conn.aclose()
        raise
    if result.code != "proxy.ok":
        await conn.aclose()
        raise TunnelError(result)
    return conn


PROBER = Prober(PHASE, run, "proxy.timeout")
