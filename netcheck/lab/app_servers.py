"""Application-layer lab servers on loopback: one per websocket/HTTPS outcome.

Each server listens on ``127.0.0.1`` (port chosen by the kernel), serves TLS
with the ``ssl.SSLContext`` it is given (``LabPki().server_context(name)``),
and has ``async start()`` / ``async stop()`` (or ``async with``), ``.host``,
``.port``, ``.accepted`` (TCP connections accepted, counted at accept time,
before TLS, so "one connection per target" is checked at the TCP level) and
``.bytes_sent`` (application bytes written, for bounded-read tests).

Server                   behaviour                                  probe outcome
-----------------------  -----------------------------------------  ----------------------
WsEchoServer             real websockets server, echoes messages    ws.ok
WsRejectServer           answers the upgrade with 403 (or status)   ws.rejected
WsNoPongServer           completes the upgrade, eats every frame    ws.no_pong
WsCloseFrameServer       good 101, then a close frame at once       ws.closed
WsBadAcceptServer        101 with a wrong Sec-WebSocket-Accept      ws.protocol_error
WsFloodServer            good 101, then text frames without end     ws.no_pong
WsPongAndCloseServer     pong and close frame in one write          ws.ok
WsGarbageFramesServer    good 101, then a frame with a bad opcode   ws.protocol_error
WsHugeFrameServer        good 101, then a frame announcing 100 MB   ws.protocol_error
HttpsServer              HTTP/1.1 per-path answers (200/403/block)  http.*
HugeHeaderServer         a status line, then headers without end    ws.protocol_error, http.error
SilentServer             TLS, then never answers                    ws.timeout, http.timeout
GarbageServer            TLS, then bytes that are not HTTP          ws.protocol_error, http.error
CloseAfterTlsServer      closes right after the TLS handshake       ws.closed, http.error

Only loopback: nothing here ever listens on or sends to another address.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.utils import accept_key

from netcheck.lab.tcp_servers import LOOPBACK, LabTcpServer

_HEAD_LIMIT = 64 * 1024  # what a lab server reads of a request head
_TLS_HANDSHAKE_TIMEOUT = 5.0


class _LabServer(LabTcpServer):
    """A lab server that speaks TLS with ``ssl_context`` and counts its bytes."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        super().__init__(LOOPBACK, 0)
        self.ssl_context = ssl_context
        self.bytes_sent = 0


# -- servers built on asyncio streams ---------------------------------------


class StreamTlsServer(_LabServer):
    """A TCP server that counts the accept, then does TLS itself, then ``handle()``.

    TLS is started on the accepted stream (not by ``start_server(ssl=...)``)
    so that ``accepted`` counts TCP connections, including any whose TLS
    handshake fails.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        super().__init__(ssl_context)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed by either side."""
        return len(self._writers)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connected, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _connected(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            await writer.start_tls(self.ssl_context,
                                   ssl_handshake_timeout=_TLS_HANDSHAKE_TIMEOUT)
            await self.handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                h11.ProtocolError, TimeoutError):
            pass  # the client went away or misbehaved: a lab server just stops
        finally:
            await _close(writer)
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        # Writing into a transport the client already closed "succeeds"
        # (asyncio drops the bytes): stop at the close instead of counting
        # bytes nobody will read.
        if writer.transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        writer.write(data)
        self.bytes_sent += len(data)
        await writer.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    writer.transport.abort()


async def _discard_until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def _read_request_head(reader: asyncio.StreamReader) -> bytes:
    head = bytearray()
    while b"\r\n\r\n" not in head:
        chunk = await reader.read(4096)
        if not chunk or len(head) > _HEAD_LIMIT:
            raise ConnectionResetError("no complete request head")
        head += chunk
    return bytes(head)


def _ws_key(head: bytes) -> str:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return value.strip().decode("ascii")
    return ""


def switching_protocols(key: str, accept: str | None = None) -> bytes:
    """A 101 answer to the upgrade with key ``key`` (``accept`` overrides the proof)."""
    return (b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + (accept or accept_key(key)).encode() + b"\r\n"
            b"Server: lab-ws\r\n\r\n")


class _UpgradingServer(StreamTlsServer):
    """Answers the upgrade with a correct 101 itself, then ``after_upgrade()``."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _read_request_head(reader)
        await self.send(writer, switching_protocols(_ws_key(head)))
        await self.after_upgrade(reader, writer)

    async def after_upgrade(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class WsNoPongServer(_UpgradingServer):
    """A middlebox that lets the upgrade through but eats every frame after it.

    websockets' own server answers pings by itself, hence this raw server.
    """

    async def after_upgrade(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        await _discard_until_eof(reader)


class WsFloodServer(_UpgradingServer):
    """A good 101, then small text frames without end, and never a pong."""

    async def after_upgrade(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        frame = b"\x81\x7e" + (1000).to_bytes(2, "big") + b"a" * 1000
        while True:
            await self.send(writer, frame * 16)


class WsPongAndCloseServer(_UpgradingServer):
    """Answers the first ping with its pong and a close frame (1001) in one write."""

    async def after_upgrade(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        header = await reader.readexactly(2)
        length = header[1] & 0x7F  # a ping's payload is at most 125 bytes
        mask = await reader.readexactly(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(length)))
        close = (1001).to_bytes(2, "big")
        await self.send(writer, b"\x8a" + bytes([len(payload)]) + payload
                        + b"\x88" + bytes([len(close)]) + close)
        await _discard_until_eof(reader)


class WsGarbageFramesServer(_UpgradingServer):
    """A good 101, then a frame with reserved opcode 0x3 (invalid per RFC 6455)."""

    async def after_upgrade(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        await self.send(writer, b"\x83\x02hi")
        await _discard_until_eof(reader)


class WsHugeFrameServer(_UpgradingServer):
    """A good 101, then a binary frame announcing ``size`` bytes, streamed until
    the client hangs up. ``bytes_sent`` tells how much the client let through."""

    def __init__(self, ssl_context: ssl.SSLContext, size: int = 100 * 1024 * 1024) -> None:
        super().__init__(ssl_context)
        self.size = size

    async def after_upgrade(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        await self.send(writer, b"\x82\x7f" + self.size.to_bytes(8, "big"))
        chunk = bytes(64 * 1024)
        left = self.size
        while left > 0:
            await self.send(writer, chunk[:left])
            left -= len(chunk)
            # Once the TLS layer drops writes to a dead connection, drain()
            # never blocks: yield, so the loop can deliver the close.
            await asyncio.sleep(0)


class WsCloseFrameServer(_UpgradingServer):
    """A good 101, then at once a close frame (1008, policy violation)."""

    async def after_upgrade(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        reason = b"lab policy"
        await self.send(writer, b"\x88" + bytes([2 + len(reason)]) + (1008).to_bytes(2, "big")
                        + reason)
        await _discard_until_eof(reader)


class WsBadAcceptServer(StreamTlsServer):
    """A 101 whose Sec-WebSocket-Accept does not prove it read the key."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request_head(reader)
        await self.send(writer, switching_protocols("", accept="bm90IHRoZSByaWdodCBrZXk="))
        await _discard_until_eof(reader)


class SilentServer(StreamTlsServer):
    """Completes TLS, then never answers at the application layer."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _discard_until_eof(reader)


class GarbageServer(StreamTlsServer):
    """Answers the first bytes it gets with bytes that are not HTTP, then stays open."""

    GARBAGE = b"\x16\x03\x01 this is not HTTP \xff\xfe\r\n\r\n"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await self.send(writer, self.GARBAGE)
        await _discard_until_eof(reader)


class CloseAfterTlsServer(StreamTlsServer):
    """Closes the connection as soon as the TLS handshake is done."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        return


class HugeHeaderServer(StreamTlsServer):
    """A status line, then header lines without end (up to ``size`` bytes)."""

    def __init__(self, ssl_context: ssl.SSLContext, size: int = 100 * 1024 * 1024,
                 status_line: bytes = b"HTTP/1.1 200 OK") -> None:
        super().__init__(ssl_context)
        self.size = size
        self.status_line = status_line

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await self.send(writer, self.status_line + b"\r\n")
        line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
        while self.bytes_sent < self.size:
            await self.send(writer, line * 16)


# -- HTTPS -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b"netcheck lab origin\n"


SQUID_BLOCK_PAGE = (
    b"<html><head><title>ERROR: The requested URL could not be retrieved</title></head>"
    b"<body><h1>Access Denied</h1><!-- ERR_ACCESS_DENIED -->"
    b"<p>Generated by proxy.lab.netcheck.test (squid/6.10)</p></body></html>\n"
)

DEFAULT_ROUTES: Mapping[str, Route] = {
    "/": Route(200, (("Content-Type", "text/plain"),)),
    "/forbidden": Route(403, (("Content-Type", "text/plain"),), b"forbidden by the origin\n"),
    "/block": Route(403, (
        ("Server", "squid/6.10"),
        ("X-Squid-Error", "ERR_ACCESS_DENIED 0"),
        ("Via", "1.1 proxy.lab.netcheck.test (squid/6.10)"),
        ("Content-Type", "text/html"),
    ), SQUID_BLOCK_PAGE),
    # A block page recognisable only by its body (a filter that hides its headers).
    "/block-body": Route(403, (("Content-Type", "text/html"),), SQUID_BLOCK_PAGE),
}


async def read_request(reader: asyncio.StreamReader
                       ) -> tuple[h11.Connection, h11.Request | None]:
    """One HTTP/1.1 request read with h11 (the lab's HTTPS servers share it):
    the server-side connection to answer on, and the request (None if the
    client left first)."""
    http = h11.Connection(h11.SERVER)
    request: h11.Request | None = None
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            http.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return http, request


@dataclass(frozen=True, slots=True)
class SeenRequest:
    method: str
    target: str
    headers: Mapping[str, str]  # lower-case names


class HttpsServer(StreamTlsServer):
    """An HTTP/1.1 origin (h11): per-path status, headers and body, with a Date.

    Unknown paths answer 404. Every answer closes the connection, as the
    probe asks (``Connection: close``). ``requests`` records what was asked.
    """

    def __init__(self, ssl_context: ssl.SSLContext,
                 routes: Mapping[str, Route] | None = None,
                 server_header: str = "lab-origin") -> None:
        super().__init__(ssl_context)
        self.routes = dict(DEFAULT_ROUTES if routes is None else routes)
        self.server_header = server_header
        self.requests: list[SeenRequest] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        http, request = await read_request(reader)
        if request is None:
            return
        target = request.target.decode("ascii", "replace")
        self.requests.append(SeenRequest(
            request.method.decode("ascii", "replace"), target,
            {n.decode("latin-1"): v.decode("latin-1") for n, v in request.headers}))
        route = self.routes.get(target.split("?", 1)[0], Route(404, (), b"not found\n"))
        headers = [("Date", email.utils.formatdate(usegmt=True)),
                   ("Content-Length", str(len(route.body))), ("Connection", "close")]
        if not any(n.lower() == "server" for n, _ in route.headers):
            headers.append(("Server", self.server_header))
        headers.extend(route.headers)
        reason = HTTPStatus(route.status).phrase if route.status in HTTPStatus._value2member_map_ \
            else ""
        data = http.send(h11.Response(status_code=route.status, headers=headers,
                                      reason=reason))
        data = (data or b"") + (http.send(h11.Data(data=route.body)) or b"")
        data += http.send(h11.EndOfMessage()) or b""
        await self.send(writer, data)


# -- websocket servers on the websockets library ------------------------------


class _WebsocketsServer(_LabServer):
    """A real websockets asyncio server; ``accepted`` counted at TCP accept.

    asyncio calls the protocol factory when it accepts the TCP connection,
    before the TLS handshake, so counting in the connection's constructor
    counts TCP connections.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        super().__init__(ssl_context)
        self._server: Server | None = None
        self.requests: list[SeenRequest] = []  # every upgrade request, as received

    def _serve_options(self) -> dict[str, Any]:
        return {"process_request": self._record}

    def _record(self, connection: ServerConnection, request: Request) -> Response | None:
        self.requests.append(SeenRequest(
            "GET", request.path, {n.lower(): v for n, v in request.headers.raw_items()}))
        return None

    async def start(self) -> None:
        lab = self

        class CountedConnection(ServerConnection):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                lab.accepted += 1
                super().__init__(*args, **kwargs)

        self._server = await serve(
            self._echo, LOOPBACK, 0, ssl=self.ssl_context, ping_interval=None,
            close_timeout=1, open_timeout=5, create_connection=CountedConnection,
            **self._serve_options())
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _echo(self, connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)


class WsEchoServer(_WebsocketsServer):
    """A real websocket echo server: upgrade, pong, echo, clean close.

    With ``greeting``, it first sends that message unasked (as many services
    do), which a client waiting for its pong must skip.
    """

    def __init__(self, ssl_context: ssl.SSLContext, greeting: str | None = None) -> None:
        super().__init__(ssl_context)
        self.greeting = greeting

    async def _echo(self, connection: ServerConnection) -> None:
        if self.greeting is not None:
            await connection.send(self.greeting)
        await super()._echo(connection)


@dataclass(frozen=True, slots=True)
class _Rejection:
    status: int
    server_header: str
    headers: tuple[tuple[str, str], ...]
    body: str


class WsRejectServer(_WebsocketsServer):
    """Answers every upgrade with ``status`` (default 403, ``Server: lab-filter``)."""

    def __init__(self, ssl_context: ssl.SSLContext, status: int = 403,
                 server_header: str = "lab-filter",
                 headers: Sequence[tuple[str, str]] = (("Via", "1.1 lab-filter"),),
                 body: str = "websocket upgrade refused by the lab filter\n") -> None:
        super().__init__(ssl_context)
        self.rejection = _Rejection(status, server_header, tuple(headers), body)

    def _serve_options(self) -> dict[str, Any]:
        return {"process_request": self._reject, "server_header": self.rejection.server_header}

    def _reject(self, connection: ServerConnection, request: Request) -> Response:
        self._record(connection, request)
        response = connection.respond(self.rejection.status, self.rejection.body)
        extra = Headers(self.rejection.headers)
        for name, value in extra.raw_items():
            response.headers[name] = value
        return response


__all__ = [
    "DEFAULT_ROUTES", "SQUID_BLOCK_PAGE", "CloseAfterTlsServer", "GarbageServer",
    "HttpsServer", "HugeHeaderServer", "Route", "SeenRequest", "SilentServer",
    "StreamTlsServer", "WsBadAcceptServer", "WsCloseFrameServer", "WsEchoServer",
    "WsFloodServer", "WsGarbageFramesServer", "WsHugeFrameServer", "WsNoPongServer",
    "WsPongAndCloseServer", "WsRejectServer", "switching_protocols",
]
