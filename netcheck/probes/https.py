"""The HTTPS phase: one HTTP/1.1 request over the connection the TLS phase left.

h11 drives the exchange (sans-I/O, see STYLE.md); this module does the reads
and writes, each bounded by the phase's one deadline and by a byte budget, so
a hostile or broken peer can cost neither memory nor more than ``ctx.timeout``.

Any HTTP response passes (``http.ok``) unless the endpoint lists
``expect_status`` and the status is not in it (``http.unexpected_status``).

Block pages (``http.proxy_block``) are recognised conservatively, because a
false alarm sends a network team hunting for a proxy that is not there: the
status must be one filters use for block pages (403/407/451/511) *and* a
strong product signal must be present (a header only that product sets, the
product's name in ``Server``/``Via``, or, for those statuses only, the
product's error-page marker in the first bytes of the body). A bare ``Via``
is not enough: CDNs in front of the vendor add one too.

A status listed in ``expect_status`` is never reported as a block page: the
catalogue author saw that answer and declared it proof of reachability, and
explicit configuration must be able to overrule a heuristic (to silence a
false positive, list the status). Outside ``expect_status`` (or with none set)
a block page is ``http.proxy_block`` rather than ``http.unexpected_status``,
because its action (allow the host on the filter) is the one that fixes it.

The small helpers shared with the websocket phase (the deadline-bounded
stream, the Host header, the HTTP prefix check, the block-page table) live
here because they are HTTP knowledge; :mod:`.websocket` imports them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import h11

from netcheck import __version__
from netcheck.catalog import Endpoint
from netcheck.model import PhaseResult
from netcheck.probes.base import Connection, ProbeContext, Prober, outcome

PHASE = "https"
USER_AGENT = f"netcheck/{__version__}"

MAX_HEAD_BYTES = 64 * 1024  # a response head larger than this is not an answer we trust
MAX_BODY_BYTES = 64 * 1024  # only ever read to look for a block-page marker
BODY_WAIT = 1.0  # seconds at most spent reading a block-page candidate's body
READ_CHUNK = 16 * 1024
_HEADER_VALUE_MAX = 256  # characters kept per header value in data.headers


class PeerClosed(Exception):
    """The peer closed the connection (EOF) while an answer was awaited."""

    def __init__(self, received: int) -> None:
        super().__init__(f"connection closed after {received} bytes")
        self.received = received


class HeadTooLarge(Exception):
    """The response head exceeded its byte budget."""


class NotHttp(Exception):
    """The first bytes of the answer are not ``HTTP/``."""

    def __init__(self, start: bytes) -> None:
        super().__init__(f"the answer does not start with HTTP/: {start[:32]!r}")
        self.start = start


class DeadlineStream:
    """Reads and writes on one connection, all bounded by one phase deadline.

    Every read may also be given an earlier deadline (a sub-step that must
    not use the whole phase budget). ``received`` counts every byte read, so
    byte budgets are enforced by callers on a single number.
    """

    def __init__(self, conn: Connection, budget: float) -> None:
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        self.deadline = self._loop.time() + budget
        self.received = 0

    def remaining(self, deadline: float | None = None) -> float:
        end = self.deadline if deadline is None else min(deadline, self.deadline)
        return max(0.0, end - self._loop.time())

    def now(self) -> float:
        return self._loop.time()

    async def read(self, deadline: float | None = None, limit: int = READ_CHUNK) -> bytes:
        """Some bytes; raises ``TimeoutError`` at the deadline, ``PeerClosed`` on EOF."""
        data = await asyncio.wait_for(self._conn.reader.read(limit), self.remaining(deadline))
        if not data:
            raise PeerClosed(self.received)
        self.received += len(data)
        return data

    async def write(self, chunks: Iterable[bytes]) -> None:
        for chunk in chunks:
            # An empty chunk is websockets' "half-close" sentinel; a TLS stream
            # cannot half-close, and the runner closes the connection anyway.
            if chunk:
                self._conn.writer.write(chunk)
        await asyncio.wait_for(self._conn.writer.drain(), self.remaining())


def received_now() -> str:
    """This host's clock now, RFC 3339 UTC with milliseconds (``...T12:00:00.123Z``):
    recorded as ``received_at`` when a response head arrives, so the clock-skew
    check compares a server's Date with the moment it was read, not the run's."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def host_header(endpoint: Endpoint) -> str:
    """The Host header (and URI authority): the hostname, with :port unless 443."""
    host = endpoint.host
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return host if endpoint.port == 443 else f"{host}:{endpoint.port}"


def looks_like_http(start: bytes | bytearray) -> bool:
    """Whether the first bytes of an answer can still be an HTTP status line.

    Checked on every read before the head is complete, so garbage is
    recognised on its first bytes instead of after the timeout.
    """
    prefix = bytes(start[:5])
    return b"HTTP/".startswith(prefix)


# -- block pages ---------------------------------------------------------------

BLOCK_STATUSES = frozenset({403, 407, 451, 511})


@dataclass(frozen=True, slots=True)
class _Signature:
    product: str
    where: str  # "header" (name present) | "header-prefix" | "server-via" | "body"
    token: str  # lower case


# The one table of block-page signatures. Only signals a vendor origin does not
# produce: headers the product itself adds, its name in Server/Via, or the marker
# of its error-page template. Add a product here, nowhere else.
BLOCK_SIGNATURES: tuple[_Signature, ...] = (
    _Signature("Squid", "header", "x-squid-error"),  # every squid error page
    _Signature("Squid", "server-via", "squid"),
    _Signature("Squid", "body", "err_access_denied"),  # squid's error template id
    _Signature("Zscaler", "header-prefix", "x-zscaler-"),
    _Signature("Zscaler", "server-via", "zscaler"),
    _Signature("Blue Coat", "header", "x-bluecoat-via"),
    _Signature("Blue Coat", "server-via", "bluecoat"),
    _Signature("Blue Coat", "server-via", "blue coat"),
    _Signature("FortiGate", "server-via", "fortigate"),
    _Signature("FortiGate", "body", "fortiguard"),  # FortiGuard web-filter block page
    _Signature("McAfee Web Gateway", "server-via", "mcafee web gateway"),
    _Signature("Forcepoint", "server-via", "websense"),
    _Signature("Forcepoint", "server-via", "forcepoint"),
    _Signature("Cisco WSA", "server-via", "ironport"),
    _Signature("Palo Alto Networks", "server-via", "pan-os"),
)


@dataclass(frozen=True, slots=True)
class BlockPage:
    product: str
    evidence: str  # what matched, for the detail


def block_page(status: int, headers: Iterable[tuple[str, str]],
               body: bytes = b"") -> BlockPage | None:
    """The filter product whose block page this answer is, or ``None``.

    ``headers`` are (name, value) pairs in any case. Pure: tested without a server.
    """
    if status not in BLOCK_STATUSES:
        return None
    pairs = [(name.lower(), value) for name, value in headers]
    lowered_body = body.lower()
    for sig in BLOCK_SIGNATURES:
        if sig.where == "body":
            if sig.token.encode() in lowered_body:
                return BlockPage(sig.product, f"body contains {sig.token!r}")
            continue
        for name, value in pairs:
            if (sig.where == "header" and name == sig.token) or (
                    sig.where == "header-prefix" and name.startswith(sig.token)):
                return BlockPage(sig.product, f"{name}: {value[:80]}")
            if sig.where == "server-via" and name in ("server", "via") \
                    and sig.token in value.lower():
                return BlockPage(sig.product, f"{name}: {value[:80]}")
    return None


def needs_body(status: int) -> bool:
    """Whether the body may hold a block-page marker worth reading."""
    return status in BLOCK_STATUSES


# -- the probe ---------------------------------------------------------------

_KEPT_HEADERS = frozenset({
    "server", "via", "date", "content-type", "content-length", "location",
    "cache-control", "x-cache", "x-squid-error", "x-bluecoat-via",
    "www-authenticate", "proxy-authenticate", "strict-transport-security",
})


def header_subset(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The headers worth keeping in the report (a proxy's fingerprints, dates)."""
    kept: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in _KEPT_HEADERS or key.startswith("x-zscaler-"):
            value = value[:_HEADER_VALUE_MAX]
            kept[key] = f"{kept[key]}, {value}" if key in kept else value
    return kept


def _first(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    return next((v for n, v in headers if n.lower() == name), None)


@dataclass(slots=True)
class _Answer:
    status: int
    reason: str
    http_version: str
    headers: list[tuple[str, str]]
    body: bytearray
    received_at: str  # when the head was complete, by this host's clock


def _decode(raw: bytes | bytearray) -> str:
    return bytes(raw).decode("iso-8859-1")


async def _exchange(ctx: ProbeContext, stream: DeadlineStream) -> _Answer:
    http = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
    request = h11.Request(method="GET", target=ctx.endpoint.path, headers=[
        ("Host", host_header(ctx.endpoint)),
        ("User-Agent", USER_AGENT),
        ("Accept", "*/*"),
        ("Connection", "close"),
    ])
    await stream.write([http.send(request), http.send(h11.EndOfMessage())])

    head = bytearray()  # only the first bytes, for the HTTP prefix check
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            data = await stream.read()
            if len(head) < 32:  # enough to judge, and to quote in the detail
                head += data[: 32 - len(head)]
                if not looks_like_http(head):
                    raise NotHttp(bytes(head))
            if stream.received > MAX_HEAD_BYTES:
                raise HeadTooLarge(f"more than {MAX_HEAD_BYTES // 1024} KiB before the "
                                   f"end of the response head")
            http.receive_data(data)
        elif isinstance(event, h11.InformationalResponse):
            continue  # 1xx: the real answer follows
        elif isinstance(event, h11.Response):
            headers = [(_decode(n), _decode(v)) for n, v in event.headers.raw_items()]
            answer = _Answer(event.status_code, _decode(event.reason),
                             _decode(event.http_version), headers, bytearray(),
                             received_now())
            await _read_body(http, stream, answer)
            return answer
        else:  # pragma: no cover - h11 yields nothing else before a Response
            raise h11.RemoteProtocolError(f"unexpected event {event!r}")


async def _read_body(http: h11.Connection, stream: DeadlineStream, answer: _Answer) -> None:
    """Take the body bytes already received; read more only for a block-page candidate.

    The response is already in hand: nothing here may turn it into a failure,
    so a slow, closed or broken body just ends the reading.
    """
    wanted = needs_body(answer.status) and block_page(answer.status, answer.headers) is None
    until = stream.now() + BODY_WAIT
    while len(answer.body) < MAX_BODY_BYTES:
        try:
            event = http.next_event()
            if isinstance(event, h11.Data):
                answer.body += event.data[: MAX_BODY_BYTES - len(answer.body)]
            elif event is h11.NEED_DATA and wanted:
                data = await stream.read(deadline=until)
                http.receive_data(data)
            else:
                return  # EndOfMessage, or a body we do not need
        except (TimeoutError, PeerClosed, h11.RemoteProtocolError, OSError):
            return


def _verdict(ctx: ProbeContext, answer: _Answer) -> PhaseResult:
    expect = ctx.endpoint.expect_status
    data: dict[str, Any] = {
        "status": answer.status,
        "reason": answer.reason,
        "http_version": answer.http_version,
        "server": _first(answer.headers, "server"),
        "via": _first(answer.headers, "via"),
        "date": _first(answer.headers, "date"),
        "received_at": answer.received_at,
        "content_type": _first(answer.headers, "content-type"),
        "headers": header_subset(answer.headers),
        "body_bytes_read": len(answer.body),
    }
    said = f"HTTP {answer.status} {answer.reason}".rstrip()
    server = f" (Server: {data['server']})" if data["server"] else ""
    if expect is None or answer.status not in expect:
        block = block_page(answer.status, answer.headers, bytes(answer.body))
        if block is not None:
            data["filter"] = block.product
            data["filter_evidence"] = block.evidence
            return outcome(PHASE, "http.proxy_block",
                           f"{said} is a {block.product} block page ({block.evidence}), "
                           f"not the vendor's answer", data)
    if expect is not None and answer.status not in expect:
        data["expected"] = list(expect)
        listed = ", ".join(str(s) for s in expect)
        return outcome(PHASE, "http.unexpected_status",
                       f"{said}{server}; expected {listed}", data)
    return outcome(PHASE, "http.ok", f"{said}{server}", data)


def _failure(ctx: ProbeContext, exc: BaseException, stream: DeadlineStream) -> PhaseResult:
    """The one place where this phase maps an exception to a result code."""
    data: dict[str, Any] = {"bytes_received": stream.received}
    if isinstance(exc, TimeoutError):
        return outcome(PHASE, "http.timeout",
                       f"No HTTP response head within {ctx.timeout:g} s "
                       f"({stream.received} bytes received)", data)
    if isinstance(exc, PeerClosed):
        return outcome(PHASE, "http.error",
                       f"The connection closed before a complete HTTP response "
                       f"({exc.received} bytes received)", data)
    if isinstance(exc, NotHttp | HeadTooLarge | h11.ProtocolError):
        return outcome(PHASE, "http.error", f"Invalid HTTP response: {exc}", data)
    if isinstance(exc, ssl.SSLError):
        return outcome(PHASE, "http.error",
                       f"TLS failed during the HTTP exchange: {exc.reason or exc}", data)
    if isinstance(exc, OSError):
        return outcome(PHASE, "http.error",
                       f"The connection failed during the HTTP exchange: "
                       f"{exc.strerror or exc}", data)
    raise exc  # anything else is a bug


async def run(ctx: ProbeContext, conn: Connection | None
              ) -> tuple[PhaseResult, Connection | None]:
    if conn is None:
        raise TypeError("the https phase needs the connection the TLS phase left")
    stream = DeadlineStream(conn, ctx.timeout)
    try:
        answer = await _exchange(ctx, stream)
    except (TimeoutError, PeerClosed, NotHttp, HeadTooLarge, h11.ProtocolError,
            OSError) as exc:
        return _failure(ctx, exc, stream), conn
    return _verdict(ctx, answer), conn


PROBER = Prober(PHASE, run, "http.timeout")

__all__ = [
    "BLOCK_SIGNATURES", "BLOCK_STATUSES", "MAX_BODY_BYTES", "MAX_HEAD_BYTES", "PROBER",
    "USER_AGENT", "BlockPage", "DeadlineStream", "HeadTooLarge", "NotHttp", "PeerClosed",
    "block_page", "header_subset", "host_header", "looks_like_http", "received_now", "run",
]
