"""TCP-level lab servers on loopback: one per way a connection can fail.

Every server binds to ``host`` (default ``127.0.0.1``) on a port the kernel
picks, has ``async start()`` / ``async stop()`` (or ``async with``), ``.host``,
``.port`` and ``.accepted`` (TCP connections accepted, counted at accept time,
so tests can assert "one connection per target").

Server           behaviour                                         probe outcome
---------------  ------------------------------------------------  ---------------------
StreamServer     accepts, runs an ``async (reader, writer)``       tcp.ok (the base of
                 handler (default: read until the client closes)   the others, and TLS)
RefusingPort     a bound socket that never listens: the kernel     tcp.refused
                 answers every SYN with an RST
DroppingPort     listens with backlog 0 and never accepts; its     tcp.timeout
                 accept queue is filled by one connection of its
                 own, so Linux drops every further SYN
SilentServer     accepts, reads, never writes                      tls.timeout, ...
ResettingServer  reads the first bytes (the ClientHello), then     tls.reset
                 closes with SO_LINGER 0, which sends an RST

Only loopback (or an address inside a network namespace the caller made):
nothing here sends a packet anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class LabTcpServer:
    """What every lab server shares: address, counter, start/stop, ``async with``."""

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        self.host = host
        self.port = port
        self.accepted = 0

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()


async def read_until_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The default handler: hold the connection open until the client closes."""
    while await reader.read(65536):
        pass


class StreamServer(LabTcpServer):
    """An asyncio stream server that counts accepts and runs ``handler``.

    Handler errors are swallowed (clients are probes that hang up at any
    point); ``stop()`` aborts every open connection so handlers end promptly.
    """

    def __init__(self, handler: Handler = read_until_eof, host: str = LOOPBACK,
                 port: int = 0) -> None:
        super().__init__(host, port)
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed by either side."""
        return len(self._writers)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _on_client(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self.serve(reader, writer)
        except (OSError, EOFError, asyncio.IncompleteReadError):
            pass  # the probe hung up or reset: normal for a lab server
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
            if task is not None:
                self._tasks.discard(task)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._handler(reader, writer)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = list(self._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=1.0)
            for task in pending:  # a handler that ignores its aborted transport
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        await self._server.wait_closed()
        self._server = None


class SilentServer(StreamServer):
    """Accepts and never says a word: every handshake or request stalls."""

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__(read_until_eof, host, port)


async def _reset_after_first_bytes(reader: asyncio.StreamReader,
                                   writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # Linger on, timeout 0: close() discards the socket with an RST instead
        # of a FIN, as an SNI/DPI filter does when it kills a connection.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class ResettingServer(StreamServer):
    """Reads the first bytes (a ClientHello), then resets the connection."""

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__(_reset_after_first_bytes, host, port)


class RefusingPort(LabTcpServer):
    """A port where the kernel answers SYN with RST.

    The socket is bound but never listens, which keeps the port reserved (no
    other test can take it) while nothing accepts on it.
    """

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__(host, port)
        self._sock: socket.socket | None = None

    async def start(self) -> None:
        self._sock = socket.socket(_family(self.host), socket.SOCK_STREAM)
        self._sock.bind((self.host, self.port))
        self.port = self._sock.getsockname()[1]

    async def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class DroppingPort(LabTcpServer):
    """A port whose SYNs go unanswered, like a firewall's DROP rule.

    Linux drops an incoming SYN when the listener's accept queue is full
    (``tcp_conn_request``: ``sk_acceptq_is_full`` -> drop), and with
    ``tcp_abort_on_overflow=0`` (the default) it answers nothing at all, so
    the client retransmits its SYN until it gives up. ``listen(0)`` makes
    the queue hold one connection; our own filler connection takes that
    place and is never accepted.
    """

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__(host, port)
        self._listener: socket.socket | None = None
        self._filler: socket.socket | None = None

    async def start(self) -> None:
        family = _family(self.host)
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.bind((self.host, self.port))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        self._filler = socket.socket(family, socket.SOCK_STREAM)
        self._filler.settimeout(2.0)
        # Loopback completes the handshake inside connect(): the filler is in
        # the accept queue when this returns.
        self._filler.connect((self.host, self.port))

    async def stop(self) -> None:
        for sock in (self._filler, self._listener):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self._filler = self._listener = None
