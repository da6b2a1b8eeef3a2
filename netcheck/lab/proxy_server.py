"""A small CONNECT forward proxy on loopback, for ``netcheck demo``.

It plays the policies a corporate proxy applies, each with the answer real
products give, so the demo shows every ``proxy.*`` code:

* Basic authentication           -> 407 with ``Proxy-Authenticate``
* a deny list of hosts           -> 403
* a port policy (443 only, by default, like squid's ``SSL_ports``) -> 403
* an allow list of hosts         -> 403 for anything not on it
* a name it cannot resolve       -> 502
* a target that refuses          -> 502; one that does not answer -> 504

Names are resolved only through the ``hosts`` map it is given, and only
loopback addresses are ever connected to: the lab never sends a packet off
the machine, whatever a client asks for. The tests use a real squid as "the
real proxy"; this one exists so the demo needs nothing installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import h11

from netcheck.proxyconf import basic_token

SERVER_NAME = "netcheck-lab-proxy"
_HEAD_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class _Verdict:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class LabProxy:
    """An asyncio CONNECT proxy: ``await start()``, use ``.host``/``.port``, ``await stop()``.

    ``allow``/``deny`` hold host names (``example.com`` also covers names
    under it); ``allow=None`` allows every host not denied. ``allowed_ports``
    ``None`` allows every port. ``ssl_context`` makes it an ``https://`` proxy.
    """

    hosts: Mapping[str, str] = field(default_factory=dict)  # lab name -> loopback IP
    allow: Iterable[str] | None = None
    deny: Iterable[str] = ()
    allowed_ports: Iterable[int] | None = (443,)
    credentials: tuple[str, str] | None = None
    ssl_context: ssl.SSLContext | None = None
    bind: str = "127.0.0.1"
    upstream_timeout: float = 2.0
    connections: int = 0  # TCP connections accepted
    tunnels: int = 0  # tunnels opened (200 sent)
    requests: list[str] = field(default_factory=list)  # CONNECT targets seen, in order
    _server: asyncio.Server | None = None
    _port: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def host(self) -> str:
        return self.bind

    @property
    def port(self) -> int:
        assert self._port, "start() first"
        return self._port

    @property
    def url(self) -> str:
        """The proxy URL, with the credentials when it has some."""
        scheme = "https" if self.ssl_context is not None else "http"
        auth = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        return f"{scheme}://{auth}{self.host}:{self.port}"

    async def start(self) -> None:
        if not ipaddress.ip_address(self.bind).is_loopback:
            raise ValueError(f"the lab proxy binds loopback only, not {self.bind}")
        self._server = await asyncio.start_server(
            self._accept, self.bind, 0, ssl=self.ssl_context, limit=_HEAD_LIMIT)
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # Aborting every transport ends each handler through EOF; cancelling
        # is only the fallback for one stuck elsewhere.
        for writer in list(self._writers):
            _abort(writer)
        if self._tasks:
            _, stuck = await asyncio.wait(list(self._tasks), timeout=1.0)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck, timeout=1.0)

    async def __aenter__(self) -> LabProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- one client -----------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away; nothing to report in a lab
        except asyncio.CancelledError:
            pass  # stop(): this is the task's outermost frame, nothing above to tell
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            _abort(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(head)
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            event = None
        if not isinstance(event, h11.Request):
            await _reply(writer, _Verdict(400, "Bad Request"))
            return
        target = event.target.decode("latin-1")
        if event.method != b"CONNECT":
            await _reply(writer, _Verdict(405, "Method Not Allowed", (("Allow", "CONNECT"),)))
            return
        self.requests.append(target)
        host, port = _split_target(target)
        verdict = self._policy(host, port, dict(event.headers).get(b"proxy-authorization", b""))
        if verdict is not None:
            await _reply(writer, verdict)
            return
        ip = self.hosts.get(host.lower().rstrip("."))
        if ip is None or not ipaddress.ip_address(ip).is_loopback:
            await _reply(writer, _Verdict(502, "Bad Gateway",
                                          (("X-Lab-Error", f"cannot resolve {host}"),)))
            return
        try:
            async with asyncio.timeout(self.upstream_timeout):
                up_reader, up_writer = await asyncio.open_connection(ip, port)
        except TimeoutError:
            await _reply(writer, _Verdict(504, "Gateway Timeout"))
            return
        except OSError as exc:
            await _reply(writer, _Verdict(502, "Bad Gateway",
                                          (("X-Lab-Error", exc.strerror or "connect failed"),)))
            return
        self._writers.add(up_writer)
        try:
            writer.write(b"HTTP/1.1 200 Connection established\r\n"
                         b"Proxy-Agent: " + SERVER_NAME.encode() + b"\r\n\r\n")
            await writer.drain()
            self.tunnels += 1
            await _pipe_both(reader, writer, up_reader, up_writer)
        finally:
            self._writers.discard(up_writer)
            _abort(up_writer)

    def _policy(self, host: str, port: int, authorization: bytes) -> _Verdict | None:
        """The first rule that refuses ``CONNECT host:port``, or None."""
        if host == "" or port == 0:
            return _Verdict(400, "Bad Request")
        if self.credentials is not None:
            expected = b"Basic " + basic_token(*self.credentials).encode()
            if not hmac.compare_digest(authorization, expected):
                return _Verdict(407, "Proxy Authentication Required",
                                (("Proxy-Authenticate", 'Basic realm="netcheck-lab"'),))
        if any(_covers(rule, host) for rule in self.deny):
            return _Verdict(403, "Forbidden", (("X-Lab-Error", "host denied"),))
        if self.allowed_ports is not None and port not in set(self.allowed_ports):
            return _Verdict(403, "Forbidden", (("X-Lab-Error", f"CONNECT to port {port} denied"),))
        if self.allow is not None and not any(_covers(rule, host) for rule in self.allow):
            return _Verdict(403, "Forbidden", (("X-Lab-Error", "host not on the allow-list"),))
        return None


def _split_target(target: str) -> tuple[str, int]:
    host, _, port_text = target.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        port = int(port_text)
    except ValueError:
        return "", 0
    return (host, port) if 0 < port < 65536 else ("", 0)


def _covers(rule: str, host: str) -> bool:
    rule, host = rule.lower().lstrip(".").rstrip("."), host.lower().rstrip(".")
    return host == rule or host.endswith("." + rule)


async def _reply(writer: asyncio.StreamWriter, verdict: _Verdict) -> None:
    body = f"{verdict.status} {verdict.reason}\n".encode()
    head = [f"HTTP/1.1 {verdict.status} {verdict.reason}", f"Server: {SERVER_NAME}",
            f"Via: 1.1 {SERVER_NAME}", "Content-Type: text/plain",
            f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in verdict.headers]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()


async def _pipe_both(a_reader: asyncio.StreamReader, a_writer: asyncio.StreamWriter,
                     b_reader: asyncio.StreamReader, b_writer: asyncio.StreamWriter) -> None:
    up = asyncio.create_task(_pipe(a_reader, b_writer))
    down = asyncio.create_task(_pipe(b_reader, a_writer))
    try:
        await asyncio.gather(up, down)
    finally:
        up.cancel()
        down.cancel()
        await asyncio.gather(up, down, return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        else:
            writer.close()  # TLS cannot half-close: pass the EOF on as a close


def _abort(writer: asyncio.StreamWriter) -> None:
    # abort(), not close(): a lab peer may stop reading; never wait on it.
    with contextlib.suppress(Exception):
        writer.transport.abort()
