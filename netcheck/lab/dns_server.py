"""A real DNS server on loopback for the lab and the tests.

It answers over UDP *and* TCP on the same port number, as a real resolver
does, so the client's TCP retry after a truncated UDP answer goes to the same
place. Messages are parsed and built with dnspython; the I/O is asyncio (a
datagram endpoint and a stream server).

The zone is data: a mapping from names (case-insensitive, trailing dot or
not) to a :class:`ZoneEntry` saying how the server behaves for that name.
A name that is not in the zone is NXDOMAIN.

    zone = {
        "ok.lab.netcheck.test": ZoneEntry(a=("127.0.0.1",), ttl=30),
        "www.lab.netcheck.test": ZoneEntry(cname="ok.lab.netcheck.test"),
        "broken.lab.netcheck.test": ZoneEntry(rcode="SERVFAIL"),
        "slow.lab.netcheck.test": ZoneEntry(silent=True),
    }
    async with LabDnsServer(zone) as server:
        ...  # ask (server.host, server.port); server.queries counts what was asked

Hostile behaviours, per name: ``truncate_udp`` (every UDP answer has TC set,
so the client must retry over TCP), ``many`` (that many extra generated
records; the UDP answer then overflows 512 bytes and is truncated as a real
server would), ``wrong_id`` (the answer's message id does not match the query).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

# A CNAME chain longer than this inside our own zone is a loop in the test data.
_MAX_CHAIN = 16
# Classic DNS over UDP without EDNS: an answer larger than this is truncated.
_UDP_CLASSIC_SIZE = 512


def _key(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _generated_a(i: int) -> str:
    # Loopback, so a runner probing these addresses never leaves the machine.
    return str(ipaddress.IPv4Address("127.1.0.1") + i)


def _generated_aaaa(i: int) -> str:
    # Unique-local and never routed: probing it stays on this host.
    return str(ipaddress.IPv6Address("fd00:6e63::1") + i)


@dataclass(frozen=True, slots=True)
class ZoneEntry:
    """How the server answers for one name.

    With nothing set the name exists but has no address (NOERROR, no answer:
    NODATA). ``rcode`` ("NXDOMAIN", "SERVFAIL", "REFUSED", any dnspython rcode
    text) answers that code with no records; ``silent`` drops every query for
    the name (the client times out); ``aaaa_rcode`` and ``aaaa_silent`` do the
    same for AAAA queries only; ``cname`` points at another name of the
    zone, whose entry then decides the rest of the answer.
    """

    a: tuple[str, ...] = ()
    aaaa: tuple[str, ...] = ()
    cname: str | None = None
    ttl: int = 60
    rcode: str | None = None
    silent: bool = False
    # AAAA-only failures, as DNS filters and broken forwarders give them,
    # while A answers normally.
    aaaa_rcode: str | None = None
    aaaa_silent: bool = False
    truncate_udp: bool = False
    many: int = 0
    wrong_id: bool = False

    def __post_init__(self) -> None:
        # Normalise once here so a typo in test data fails at construction,
        # not as a puzzling answer later.
        a = tuple(str(ipaddress.IPv4Address(x)) for x in self.a)
        aaaa = tuple(ipaddress.IPv6Address(x).compressed for x in self.aaaa)
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "aaaa", aaaa)
        for rcode in (self.rcode, self.aaaa_rcode):
            if rcode is not None:
                try:
                    dns.rcode.from_text(rcode)
                except dns.rcode.UnknownRcode:
                    raise ValueError(f"unknown DNS rcode {rcode!r}") from None
        if self.ttl < 0 or self.many < 0:
            raise ValueError("ttl and many must be >= 0")


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: LabDnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not declared a DatagramTransport subclass in CPython, though it is one.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self.server.reply(data, "udp")
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error for an earlier answer (the client went away): nothing to do.
        pass


@dataclass
class LabDnsServer:
    """A DNS server for ``zone`` on ``host``:``port`` (0 = a free port), UDP and TCP."""

    zone: Mapping[str, ZoneEntry]
    host: str = "127.0.0.1"
    port: int = 0
    queries: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Queries received per (name, type), over both transports: ("x.test", "A")."""
    tcp_queries: Counter[tuple[str, str]] = field(default_factory=Counter)
    """The subset of ``queries`` that came over TCP."""
    _zone: dict[str, ZoneEntry] = field(default_factory=dict, init=False, repr=False)
    _udp: asyncio.DatagramTransport | None = field(default=None, init=False, repr=False)
    _tcp: asyncio.Server | None = field(default=None, init=False, repr=False)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set, init=False, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self._zone = {_key(name): entry for name, entry in self.zone.items()}

    # -- life cycle -----------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` as netcheck prints a resolver (``[::1]:53`` for IPv6)."""
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    @property
    def resolver(self) -> tuple[str, int]:
        """What to pass to :func:`netcheck.probes.dns.query` as one resolver."""
        return (self.host, self.port)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        udp_sock, tcp_sock = self._bind()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), sock=udp_sock)
        except BaseException:
            udp_sock.close()
            tcp_sock.close()
            raise
        self._udp = transport
        try:
            self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock)
        except BaseException:
            tcp_sock.close()
            transport.close()
            raise

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        """A UDP and a TCP socket on the same port number."""
        family = socket.AF_INET6 if ipaddress.ip_address(self.host).version == 6 else socket.AF_INET
        # With port 0 the kernel picks the TCP port, and the same number may
        # already be taken for UDP by someone else: try again a few times.
        attempts = 1 if self.port else 20
        for attempt in range(attempts):
            tcp = socket.socket(family, socket.SOCK_STREAM)
            udp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                # SO_REUSEADDR on TCP only: on Linux it would let two UDP
                # sockets share the port, which would hide a clash.
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((self.host, self.port))
                port = tcp.getsockname()[1]
                udp.bind((self.host, port))
                tcp.listen(64)
                tcp.setblocking(False)
                udp.setblocking(False)
            except OSError as exc:
                tcp.close()
                udp.close()
                if exc.errno != errno.EADDRINUSE or attempt == attempts - 1:
                    raise
                continue
            self.port = port
            return udp, tcp
        raise AssertionError("unreachable")  # pragma: no cover

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            for writer in list(self._writers):
                writer.close()
            await self._tcp.wait_closed()
            self._tcp = None
        if self._tasks:
            # Handlers end on their own once their writer is closed; a stuck
            # one is cancelled so no task outlives the server.
            _, pending = await asyncio.wait(self._tasks, timeout=1.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def __aenter__(self) -> LabDnsServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    # -- TCP ------------------------------------------------------------------

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while True:
                header = await reader.readexactly(2)
                wire = await reader.readexactly(int.from_bytes(header, "big"))
                reply = self.reply(wire, "tcp")
                if reply is None:
                    continue  # silent: keep the connection open, answer nothing
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._tasks.discard(task)

    # -- the answer (no I/O) --------------------------------------------------

    def reply(self, wire: bytes, transport: str) -> bytes | None:
        """The wire answer to one query, or ``None`` to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None  # not DNS: a real server drops it too
        if query.flags & dns.flags.QR or len(query.question) != 1:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        qname = _key(question.name.to_text())
        qtype = dns.rdatatype.to_text(question.rdtype)
        self.queries[(qname, qtype)] += 1
        if transport == "tcp":
            self.tcp_queries[(qname, qtype)] += 1

        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        first = self._zone.get(qname)
        if not self._fill(response, qname, question.rdtype):
            return None
        if first is not None and first.wrong_id:
            response.id = (query.id + 1) & 0xFFFF
        if transport == "tcp":
            return response.to_wire(max_size=65535)
        if first is not None and first.truncate_udp:
            response.answer.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()
        size = query.payload if query.edns >= 0 else _UDP_CLASSIC_SIZE
        # prefer_truncation sets TC when the answer does not fit, as a real
        # server does: the client then retries over TCP.
        return response.to_wire(max_size=size, prefer_truncation=True)

    def _fill(self, response: dns.message.Message, qname: str,
              rdtype: dns.rdatatype.RdataType) -> bool:
        """Put the zone's answer for ``qname`` in ``response``; False = drop the query."""
        name = qname
        for _ in range(_MAX_CHAIN):
            entry = self._zone.get(name)
            if entry is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                return True
            is_aaaa = rdtype == dns.rdatatype.AAAA
            if entry.silent or (is_aaaa and entry.aaaa_silent):
                return False
            rcode = entry.aaaa_rcode if is_aaaa and entry.aaaa_rcode else entry.rcode
            if rcode is not None:
                response.set_rcode(dns.rcode.from_text(rcode))
                return True
            owner = dns.name.from_text(name)
            if entry.cname is not None:
                target = _key(entry.cname)
                response.answer.append(dns.rrset.from_text_list(
                    owner, entry.ttl, dns.rdataclass.IN, dns.rdatatype.CNAME,
                    [dns.name.from_text(target).to_text()]))
                name = target
                continue
            addresses = self._addresses(entry, rdtype)
            if addresses:
                response.answer.append(dns.rrset.from_text_list(
                    owner, entry.ttl, dns.rdataclass.IN, rdtype, addresses))
            return True
        raise ValueError(f"CNAME loop in the lab zone at {qname}")

    @staticmethod
    def _addresses(entry: ZoneEntry, rdtype: dns.rdatatype.RdataType) -> list[str]:
        if rdtype == dns.rdatatype.A:
            return [*entry.a, *(_generated_a(i) for i in range(entry.many))]
        if rdtype == dns.rdatatype.AAAA:
            return [*entry.aaaa, *(_generated_aaaa(i) for i in range(entry.many))]
        return []


__all__ = ["LabDnsServer", "ZoneEntry"]
