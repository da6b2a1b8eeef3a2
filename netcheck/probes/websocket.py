"""The websocket phase: upgrade, ping/pong and close over the TLS connection.

The websockets library's sans-I/O client (``ClientProtocol``) builds the
upgrade request, validates a 101 answer (``Sec-WebSocket-Accept``, ``Upgrade``,
``Connection``) and frames the ping and close; this module does the I/O on
the streams the TLS phase left, so a target costs one connection.

Steps, all within the phase's one deadline (``ctx.timeout``)::

    upgrade request ─▶ response head ─┬─ 101 ─▶ ping ─▶ pong ─▶ close (brief)
                                      ├─ listed in expect_status: ws.ok, upgraded: false
                                      └─ other: ws.rejected

Why the response head is read here and not by ``ClientProtocol``: for a
non-101 answer websockets reads the body, to EOF when there is no
Content-Length (up to 1 MiB). A keep-alive error page would then stall until
the timeout. A rejection needs only the status line and headers, so the head
is read here, bounded (64 KiB), and parsed with websockets' own HTTP parser;
only a 101 head is handed to the protocol.

A 101 always counts as reachable, even when ``expect_status`` does not list
it: a completed upgrade proves more than any listed error answer.

Bounds: the head (64 KiB, plus websockets' 8 KiB line / 128 header limits);
any frame while waiting for the pong (``max_size`` 64 KiB: a frame announcing
100 MB fails on its header, its payload is never read); and the bytes of
other frames accepted while waiting for the pong (1 MiB), past which the
pong is given up on (``ws.no_pong``). No extension is offered, so no
compression (and no decompression bomb).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from typing import Any, Literal

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidMessage, PayloadTooBig, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import Event, State
from websockets.streams import StreamReader
from websockets.uri import parse_uri

from netcheck.model import PhaseResult
from netcheck.probes.base import Connection, ProbeContext, Prober, outcome
from netcheck.probes.https import (
    MAX_HEAD_BYTES,
    USER_AGENT,
    DeadlineStream,
    HeadTooLarge,
    NotHttp,
    PeerClosed,
    block_page,
    host_header,
    looks_like_http,
    received_now,
)

PHASE = "websocket"
DEFAULT_EXPECT = (101,)
MAX_FRAME_BYTES = 64 * 1024
MAX_BYTES_AWAITING_PONG = 1024 * 1024
CLOSE_WAIT = 1.0  # seconds at most for the server's close frame
PING_PAYLOAD_BYTES = 8

Stage = Literal["handshake", "pong", "close"]


class NoPong(Exception):
    """Other frames used up the read budget and the pong never came."""


class PeerCloseFrame(Exception):
    """The server sent a close frame before answering the ping."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"close frame {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


@dataclass(slots=True)
class _Progress:
    """How far the exchange got: the stage decides what a timeout or EOF means."""

    stage: Stage = "handshake"
    data: dict[str, Any] = field(default_factory=lambda: {"upgraded": False})


def _headers_facts(response: Response, received_at: str) -> dict[str, Any]:
    headers = response.headers
    return {
        "status": response.status_code,
        "reason": response.reason_phrase,
        "server": headers.get("Server"),
        "via": headers.get("Via"),
        "date": headers.get("Date"),  # with received_at: the clock-skew check's sample
        "received_at": received_at,
    }


def parse_head(head: bytes) -> Response:
    """Parse a complete response head with websockets' HTTP parser, body not read.

    ``proxy=True`` is the parser's head-only mode (it also accepts HTTP/1.0,
    which a filter's error page may use; a 101 in HTTP/1.0 is still rejected
    by ``ClientProtocol``).
    """
    reader = StreamReader()
    reader.feed_data(head)
    reader.feed_eof()
    parser = Response.parse(reader.read_line, reader.read_exact, reader.read_to_eof,
                            proxy=True)
    try:
        next(parser)
    except StopIteration as done:
        response: Response = done.value
        return response
    except Exception as exc:
        # EOFError here means a malformed line, not a closed connection.
        raise InvalidMessage(f"did not receive a valid HTTP response: {exc}") from exc
    raise InvalidMessage("did not receive a valid HTTP response")  # pragma: no cover


async def _read_head(stream: DeadlineStream) -> tuple[bytes, bytes]:
    """The response head (through the blank line) and whatever followed it."""
    buf = bytearray()
    while True:
        searched = max(0, len(buf) - 3)
        buf += await stream.read()
        if not looks_like_http(buf):
            raise NotHttp(bytes(buf[:32]))
        end = buf.find(b"\r\n\r\n", searched)
        if end >= 0:
            return bytes(buf[: end + 4]), bytes(buf[end + 4:])
        if len(buf) > MAX_HEAD_BYTES:
            raise HeadTooLarge(f"more than {MAX_HEAD_BYTES // 1024} KiB before the end "
                               f"of the response head")


def _check_parser(protocol: ClientProtocol) -> None:
    if protocol.parser_exc is not None:
        raise protocol.parser_exc


async def _feed(stream: DeadlineStream, protocol: ClientProtocol, data: bytes) -> list[Event]:
    """Hand bytes to the protocol, send what it answers (pongs to the server's pings)."""
    protocol.receive_data(data)
    await stream.write(protocol.data_to_send())
    return protocol.events_received()


async def _await_pong(stream: DeadlineStream, protocol: ClientProtocol,
                      pending: list[Event], payload: bytes) -> None:
    budget_end = stream.received + MAX_BYTES_AWAITING_PONG
    while True:
        for event in pending:
            if not isinstance(event, Frame):
                continue
            if event.opcode is Opcode.PONG and event.data == payload:
                return
            if event.opcode is Opcode.CLOSE and protocol.close_rcvd is not None:
                raise PeerCloseFrame(protocol.close_rcvd.code, protocol.close_rcvd.reason)
            # Anything else (a greeting, the server's own ping) is ignored.
        _check_parser(protocol)
        if stream.received > budget_end:
            raise NoPong(f"{MAX_BYTES_AWAITING_PONG // 1024} KiB of other frames "
                         f"arrived without the pong")
        pending = await _feed(stream, protocol, await stream.read())


async def _close(stream: DeadlineStream, protocol: ClientProtocol, data: dict[str, Any]) -> None:
    """Send a close frame and wait briefly for the server's.

    The pong already proved the path; a missing close reply is noted in
    ``data``, never a failure, so every outcome of this step is swallowed here.
    """
    until = stream.now() + CLOSE_WAIT
    budget_end = stream.received + MAX_BYTES_AWAITING_PONG
    try:
        # The server may have closed already (its close frame came with the pong;
        # the protocol has echoed it): then there is nothing left to send.
        if protocol.state is State.OPEN:
            protocol.send_close(1000)
            await stream.write(protocol.data_to_send())
        while protocol.close_rcvd is None and not protocol.parser_exc \
                and stream.received <= budget_end:
            await _feed(stream, protocol, await stream.read(deadline=until))
    except (TimeoutError, PeerClosed, OSError) as exc:
        data["close_error"] = type(exc).__name__
    data["close_reply"] = protocol.close_rcvd is not None
    data["close_code"] = protocol.close_rcvd.code if protocol.close_rcvd is not None else None


async def _exchange(ctx: ProbeContext, stream: DeadlineStream, progress: _Progress
                    ) -> PhaseResult:
    endpoint = ctx.endpoint
    data = progress.data
    protocol = ClientProtocol(parse_uri(f"wss://{host_header(endpoint)}{endpoint.path}"),
                              max_size=MAX_FRAME_BYTES)
    request = protocol.connect()
    request.headers["User-Agent"] = USER_AGENT
    protocol.send_request(request)
    await stream.write(protocol.data_to_send())

    head, rest = await _read_head(stream)
    received_at = received_now()
    response = parse_head(head)
    data.update(_headers_facts(response, received_at))
    expect = endpoint.expect_status or DEFAULT_EXPECT
    said = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if response.status_code != 101:
        if response.status_code in expect:
            return outcome(PHASE, "ws.ok",
                           f"{said} answered, which the catalogue lists as reachable; "
                           f"the websocket upgrade was not confirmed", data)
        via = f", Via: {data['via']}" if data["via"] else ""
        server = f" (Server: {data['server']}{via})" if data["server"] or via else ""
        block = block_page(response.status_code, response.headers.raw_items())
        by = ""
        if block is not None:
            data["filter"] = block.product
            by = f"; this is a {block.product} block page ({block.evidence})"
        return outcome(PHASE, "ws.rejected",
                       f"The websocket upgrade was refused: {said}{server}{by}", data)

    pending = await _feed(stream, protocol, head + rest)
    if protocol.handshake_exc is not None:
        raise protocol.handshake_exc
    data["upgraded"] = True
    data["subprotocol"] = protocol.subprotocol

    progress.stage = "pong"
    payload = os.urandom(PING_PAYLOAD_BYTES)  # random, so no stale or canned pong counts
    sent_at = stream.now()
    protocol.send_ping(payload)
    await stream.write(protocol.data_to_send())
    await _await_pong(stream, protocol, pending, payload)
    data["rtt_ms"] = round((stream.now() - sent_at) * 1000, 3)

    progress.stage = "close"
    await _close(stream, protocol, data)
    closing = "closed cleanly" if data["close_reply"] else "no close reply (not a failure)"
    return outcome(PHASE, "ws.ok",
                   f"Upgraded ({said}), pong in {data['rtt_ms']:.1f} ms, {closing}", data)


def _failure(ctx: ProbeContext, exc: BaseException, progress: _Progress,
             stream: DeadlineStream) -> PhaseResult:
    """The one place where this phase maps an exception to a result code."""
    data = progress.data
    data["bytes_received"] = stream.received
    upgraded = progress.stage != "handshake"
    if isinstance(exc, TimeoutError):
        if upgraded:
            return outcome(PHASE, "ws.no_pong",
                           f"The upgrade succeeded but no pong came within "
                           f"{ctx.timeout:g} s: frames after the upgrade are dropped", data)
        return outcome(PHASE, "ws.timeout",
                       f"No answer to the websocket upgrade request within {ctx.timeout:g} s "
                       f"({stream.received} bytes received)", data)
    if isinstance(exc, NoPong):
        return outcome(PHASE, "ws.no_pong", f"The upgrade succeeded but {exc}", data)
    if isinstance(exc, PeerCloseFrame):
        data["close_code"] = exc.code
        return outcome(PHASE, "ws.closed",
                       f"The server closed the websocket ({exc.code} {exc.reason}".rstrip()
                       + ") before answering the ping", data)
    if isinstance(exc, PeerClosed):
        when = ("while waiting for the pong" if upgraded
                else "before the answer to the upgrade request was complete")
        return outcome(PHASE, "ws.closed",
                       f"The connection was closed {when} ({exc.received} bytes received)",
                       data)
    if isinstance(exc, PayloadTooBig):
        return outcome(PHASE, "ws.protocol_error",
                       f"The server sent a frame larger than the "
                       f"{MAX_FRAME_BYTES // 1024} KiB netcheck reads: {exc}", data)
    if isinstance(exc, NotHttp | HeadTooLarge | InvalidHandshake):
        cause = f" ({exc.__cause__})" if isinstance(exc, InvalidMessage) and exc.__cause__ \
            and str(exc.__cause__) not in str(exc) else ""
        return outcome(PHASE, "ws.protocol_error",
                       f"The answer to the websocket upgrade broke the protocol: {exc}{cause}",
                       data)
    if isinstance(exc, ProtocolError | UnicodeDecodeError):
        return outcome(PHASE, "ws.protocol_error",
                       f"The server sent invalid websocket frames: {exc}", data)
    if isinstance(exc, ssl.SSLError):
        return outcome(PHASE, "ws.protocol_error",
                       f"TLS failed during the websocket exchange: {exc.reason or exc}", data)
    if isinstance(exc, OSError):
        return outcome(PHASE, "ws.closed",
                       f"The connection failed during the websocket exchange: "
                       f"{exc.strerror or exc}", data)
    raise exc  # anything else is a bug


async def run(ctx: ProbeContext, conn: Connection | None
              ) -> tuple[PhaseResult, Connection | None]:
    if conn is None:
        raise TypeError("the websocket phase needs the connection the TLS phase left")
    stream = DeadlineStream(conn, ctx.timeout)
    progress = _Progress()
    try:
        result = await _exchange(ctx, stream, progress)
    except (TimeoutError, OSError, PeerClosed, NotHttp, HeadTooLarge, NoPong, PeerCloseFrame,
            InvalidHandshake, ProtocolError, PayloadTooBig, UnicodeDecodeError) as exc:
        result = _failure(ctx, exc, progress, stream)
    return result, conn


PROBER = Prober(PHASE, run, "ws.timeout")
