"""The proxy phase (CONNECT) against real sockets on loopback.

Three kinds of peer:

* scripted listeners that answer CONNECT with fixed bytes (or never, or
  garbage), for the replies no well-behaved proxy gives on demand;
* the lab proxy (``netcheck.lab.proxy_server``) that ``netcheck demo`` uses;
* a real squid (Debian's ``squid`` package), run by the harness in
  ``tests/squid/`` with a generated config: loopback only, lab names from its
  own hosts file, and a check that it sent no DNS query at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import struct
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from netcheck.catalog import Endpoint
from netcheck.lab.pki import LabPki
from netcheck.lab.proxy_server import LabProxy
from netcheck.model import PhaseResult
from netcheck.probes import proxy as proxy_probe
from netcheck.probes.base import Connection, ProbeContext, ProbeOptions, ProxyConfig
from netcheck.proxyconf import basic_token, parse_proxy_url

# tests/squid/ is the squid harness, not a test package: import it by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "squid"))
from squidlab import SquidLab, find_squid

OK_HOST = "ok.lab.netcheck.test"
DENIED_HOST = "denied.lab.netcheck.test"
REFUSED_HOST = "refused.lab.netcheck.test"
TIMEOUT = 0.5


# -- helpers -----------------------------------------------------------------

class Scripted:
    """A listener that reads one request head and answers with fixed bytes.

    ``reply=None`` never answers (it waits for the client to go away);
    ``close`` closes right after the reply.
    """

    def __init__(self, reply: bytes | None, *, close: bool = False,
                 read_head: bool = True, reset: bool = False) -> None:
        self.reply, self.close, self.read_head, self.reset = reply, close, read_head, reset
        self.heads: list[bytes] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self._port: int = self._server.sockets[0].getsockname()[1]

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if self.read_head:
                self.heads.append(await reader.readuntil(b"\r\n\r\n"))
            if self.reset:
                # SO_LINGER 0: close() sends an RST instead of a FIN
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if self.reply is not None:
                writer.write(self.reply)
                await writer.drain()
            if not self.close:
                await reader.read()  # until the client closes
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.sleep(0)  # let aborted handlers finish


@contextlib.asynccontextmanager
async def scripted(reply: bytes | None, **kw: bool) -> AsyncIterator[Scripted]:
    server = Scripted(reply, **kw)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def context(host: str, port: int, proxy: ProxyConfig, timeout: float = TIMEOUT) -> ProbeContext:
    endpoint = Endpoint(name="ep", host=host, port=port, probe="https")
    return ProbeContext(endpoint=endpoint, ip=None,
                        options=ProbeOptions(timeout=timeout, proxy=proxy))


async def probe(host: str, port: int, proxy: ProxyConfig, *, timeout: float = TIMEOUT,
                ssl_context: ssl.SSLContext | None = None
                ) -> tuple[PhaseResult, Connection | None, Connection]:
    """Connect to the proxy and run the phase; the caller closes the result."""
    conn = await proxy_probe.connect_to_proxy(proxy, timeout, ssl_context=ssl_context)
    result, out = await proxy_probe.run(context(host, port, proxy, timeout), conn)
    return result, out, conn


def http_proxy(port: int, auth: str = "") -> ProxyConfig:
    return parse_proxy_url(f"http://{auth}127.0.0.1:{port}")


@pytest.fixture(scope="module")
def pki() -> Iterator[LabPki]:
    lab = LabPki()
    yield lab
    lab.close()


class TlsUpstream:
    """A lab HTTPS server: TLS with a vendor-CA certificate, answers 204."""

    def __init__(self, pki: LabPki) -> None:
        self.context = pki.server_context(OK_HOST)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        self._port: int = self._server.sockets[0].getsockname()[1]

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 204 No Content\r\nServer: lab-upstream\r\n\r\n")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.sleep(0)


@pytest.fixture
async def upstream(pki: LabPki) -> AsyncIterator[TlsUpstream]:
    server = TlsUpstream(pki)
    await server.start()
    yield server
    await server.stop()


async def https_inside(conn: Connection, host: str, pki: LabPki) -> tuple[str, bytes]:
    """TLS to ``host`` inside the tunnel (verified), one request; (issuer org, status line)."""
    ctx = ssl.create_default_context(cafile=str(pki.ca_bundle))
    await conn.writer.start_tls(ctx, server_hostname=host)
    cert = conn.writer.get_extra_info("peercert")
    issuer = dict(x[0] for x in cert["issuer"])["organizationName"]
    conn.writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    status = await asyncio.wait_for(conn.reader.readline(), TIMEOUT * 2)
    return issuer, status


@pytest.fixture
async def refused_port() -> int:
    """A loopback port with nothing listening (bound, then closed)."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


# -- the request -------------------------------------------------------------

async def test_connect_request_has_authority_host_agent_and_basic_auth() -> None:
    # Given a proxy that records what it is sent, with credentials in the URL
    async with scripted(b"HTTP/1.1 200 Connection established\r\n\r\n") as server:
        proxy = http_proxy(server.port, "CORP%5Calice:s3cret@")
        # When the proxy phase runs for ok.lab.netcheck.test:443
        result, out, conn = await probe(OK_HOST, 443, proxy)
        await conn.aclose()
    assert out is conn
    # Then the request is an authority-form CONNECT with Host, User-Agent and Basic auth
    head = server.heads[0].decode()
    assert head.startswith(f"CONNECT {OK_HOST}:443 HTTP/1.1\r\n")
    assert f"Host: {OK_HOST}:443\r\n" in head
    assert "User-Agent: netcheck/" in head
    token = basic_token("CORP\\alice", "s3cret")
    assert f"Proxy-Authorization: Basic {token}\r\n" in head
    assert result.code == "proxy.ok"


# -- replies, from a scripted proxy -------------------------------------------

@pytest.mark.parametrize(("reply", "code", "status", "in_detail"), [
    (b"HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n",
     "proxy.ok", "pass", "opened a tunnel to ok.lab.netcheck.test:443 (HTTP 200"),
    (b"HTTP/1.0 200\r\n\r\n", "proxy.ok", "pass", "(HTTP 200)"),
    (b"HTTP/1.1 407 Proxy Authentication Required\r\n"
     b"Proxy-Authenticate: Negotiate\r\nProxy-Authenticate: NTLM\r\n"
     b"Proxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n",
     "proxy.auth_required", "fail",
     "requires authentication (offers Negotiate, NTLM, Basic) for CONNECT "
     "ok.lab.netcheck.test:443: no credentials were given"),
    (b"HTTP/1.1 403 Forbidden\r\nX-Squid-Error: ERR_ACCESS_DENIED 0\r\n\r\n",
     "proxy.denied", "fail",
     "refused CONNECT ok.lab.netcheck.test:443 (HTTP 403 Forbidden; "
     "x-squid-error: ERR_ACCESS_DENIED 0)"),
    (b"HTTP/1.1 404 Not Found\r\n\r\n", "proxy.denied", "fail", "(HTTP 404 Not Found)"),
    (b"HTTP/1.1 302 Found\r\nLocation: http://portal.corp/login\r\n\r\n",
     "proxy.denied", "fail", "location: http://portal.corp/login"),
    (b"HTTP/1.1 502 Bad Gateway\r\n\r\n", "proxy.upstream_failed", "fail",
     "could not reach ok.lab.netcheck.test:443 itself (HTTP 502 Bad Gateway)"),
    (b"HTTP/1.1 503 Service Unavailable\r\n\r\n", "proxy.upstream_failed", "fail", "HTTP 503"),
    (b"HTTP/1.1 504 Gateway Timeout\r\n\r\n", "proxy.upstream_failed", "fail", "HTTP 504"),
    (b"HTTP/1.1 501 Not Implemented\r\n\r\n", "proxy.error", "fail",
     "failed CONNECT ok.lab.netcheck.test:443 (HTTP 501 Not Implemented)"),
    (b"HTTP/1.1 500 Internal Server Error\r\n\r\n", "proxy.error", "fail", "HTTP 500"),
])
async def test_reply_status_gives_the_code(reply: bytes, code: str, status: str,
                                           in_detail: str) -> None:
    # Given a proxy answering CONNECT with a fixed reply
    async with scripted(reply) as server:
        # When the proxy phase runs
        result, out, conn = await probe(OK_HOST, 443, http_proxy(server.port))
        await conn.aclose()
    # Then the code, status and detail follow DESIGN.md's proxy rules
    assert (result.code, result.status) == (code, status)
    assert in_detail in result.detail
    assert result.data["status"] == int(reply.split()[1])
    assert result.data["proxy"] == f"http://127.0.0.1:{server.port}"
    # and only a tunnel is handed on
    assert (out is conn) is (code == "proxy.ok")


async def test_auth_required_records_schemes() -> None:
    # Given a proxy that wants Negotiate or Basic
    reply = (b"HTTP/1.1 407 Proxy Authentication Required\r\n"
             b"Proxy-Authenticate: Negotiate\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n")
    async with scripted(reply) as server:
        # When the phase runs / Then the schemes and the header are in data
        result, _, conn = await probe(OK_HOST, 443, http_proxy(server.port))
        await conn.aclose()
    assert result.data["auth_schemes"] == ["Negotiate", "Basic"]
    assert result.data["headers"]["proxy-authenticate"] == 'Negotiate, Basic realm="x"'


async def test_bytes_after_the_reply_head_stay_in_the_tunnel() -> None:
    # Given a proxy that sends 100 Continue, the 200 and the first tunnel
    # bytes in one segment (as a fast upstream makes happen)
    reply = (b"HTTP/1.1 100 Continue\r\n\r\n"
             b"HTTP/1.1 200 Connection established\r\n\r\nFIRST-TUNNEL-BYTES")
    async with scripted(reply) as server:
        # When the proxy phase runs
        result, out, conn = await probe(OK_HOST, 443, http_proxy(server.port))
        try:
            # Then it is proxy.ok and the tunnel bytes are still readable, in order
            assert result.code == "proxy.ok"
            assert out is conn
            assert await asyncio.wait_for(conn.reader.readexactly(18), 1) == b"FIRST-TUNNEL-BYTES"
        finally:
            await conn.aclose()


async def test_no_answer_is_proxy_timeout() -> None:
    # Given a listener that accepts and never answers CONNECT
    async with scripted(None) as server:
        # When the proxy phase runs with a 0.5 s timeout
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        result, out, conn = await probe(OK_HOST, 8021, http_proxy(server.port))
        elapsed = loop.time() - t0
        await conn.aclose()
    # Then it is proxy.timeout, in about the timeout, naming proxy and target
    assert (result.code, result.status) == ("proxy.timeout", "fail")
    assert result.detail == (f"Proxy http://127.0.0.1:{server.port} accepted the connection "
                             f"but did not answer CONNECT {OK_HOST}:8021 within 0.5 s.")
    assert out is None
    assert 0.4 < elapsed < 1.5


@pytest.mark.parametrize(("reply", "close", "in_detail"), [
    (b"SSH-2.0-OpenSSH_9.6\r\n", False, "not a valid HTTP reply: not an HTTP reply: "
                                        "b'SSH-2.0-OpenSSH_9.6\\r\\n'"),
    (b"\x15\x03\x03\x00\x02\x02\x32\n", False, "not an HTTP reply"),
    (b"HTTP/1.1 OK\r\n\r\n", False, "invalid HTTP reply"),
    (b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n", False, "invalid HTTP reply"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 9000 + b"\r\n\r\n", False,
     "a reply line longer than 8192 bytes"),
    (b"HTTP/1.1 200 OK\r\n" + b"X: aaaaaaaa\r\n" * 6000 + b"\r\n", False,
     "a reply head larger than 65536 bytes"),
    (b"", True, "closed the connection without answering CONNECT"),
    (b"HTTP/1.1 200 Conn", True, "closed the connection in the middle of its reply"),
])
async def test_garbage_or_close_is_proxy_error(reply: bytes, close: bool, in_detail: str) -> None:
    # Given a peer that is not a working HTTP proxy
    async with scripted(reply, close=close) as server:
        # When the proxy phase runs
        result, out, conn = await probe(OK_HOST, 443, http_proxy(server.port))
        await conn.aclose()
    # Then it is proxy.error and the detail says what came back
    assert (result.code, result.status) == ("proxy.error", "fail")
    assert in_detail in result.detail
    assert out is None


async def test_peer_that_closes_before_reading_is_proxy_error() -> None:
    # Given a listener that closes at once (it never reads the request)
    async with scripted(b"", close=True, read_head=False) as server:
        # When the proxy phase runs / Then proxy.error, never an exception
        result, _, conn = await probe(OK_HOST, 443, http_proxy(server.port))
        await conn.aclose()
    # (RST or FIN depends on whether the request had arrived when it closed)
    assert result.code == "proxy.error"
    assert result.detail in (
        f"Proxy http://127.0.0.1:{server.port} closed the connection without answering "
        f"CONNECT {OK_HOST}:443.",
        f"The connection to proxy http://127.0.0.1:{server.port} failed during "
        f"CONNECT {OK_HOST}:443: Connection reset by peer.")


async def test_reset_during_connect_is_proxy_error() -> None:
    # Given a proxy that reads CONNECT and answers with an RST
    async with scripted(None, reset=True) as server:
        # When the proxy phase runs
        result, out, conn = await probe(OK_HOST, 443, http_proxy(server.port))
        await conn.aclose()
    # Then proxy.error, saying the connection was reset
    assert (result.code, result.status) == ("proxy.error", "fail")
    assert result.detail == (f"The connection to proxy http://127.0.0.1:{server.port} failed "
                             f"during CONNECT {OK_HOST}:443: Connection reset by peer.")
    assert out is None


# -- the lab proxy -----------------------------------------------------------

@pytest.fixture
async def lab_proxy(upstream: TlsUpstream) -> AsyncIterator[LabProxy]:
    proxy = LabProxy(
        hosts={OK_HOST: "127.0.0.1", "denied.lab.netcheck.test": "127.0.0.1",
               "refused.lab.netcheck.test": "127.0.0.1"},
        deny=["denied.lab.netcheck.test"],
        allowed_ports=[443, upstream.port])
    await proxy.start()
    yield proxy
    await proxy.stop()


async def test_lab_proxy_tunnel_carries_verified_tls(lab_proxy: LabProxy, upstream: TlsUpstream,
                                                     pki: LabPki) -> None:
    # Given the lab proxy and a lab HTTPS server behind it
    # When the proxy phase opens a tunnel and TLS runs inside it
    result, out, conn = await probe(OK_HOST, upstream.port, http_proxy(lab_proxy.port))
    try:
        assert (result.code, result.status) == ("proxy.ok", "pass")
        assert out is conn
        issuer, status = await https_inside(conn, OK_HOST, pki)
    finally:
        await conn.aclose()
    # Then the certificate is the lab vendor's and the server answered through the tunnel
    assert issuer == "netcheck lab vendor CA"
    assert status.startswith(b"HTTP/1.1 204")
    assert result.data["headers"] == {"proxy-agent": "netcheck-lab-proxy"}
    assert (lab_proxy.connections, lab_proxy.tunnels) == (1, 1)


async def test_lab_proxy_denied_host(lab_proxy: LabProxy) -> None:
    # Given the lab proxy with a deny list / When CONNECT to a denied host on 443
    result, _, conn = await probe("denied.lab.netcheck.test", 443, http_proxy(lab_proxy.port))
    await conn.aclose()
    # Then proxy.denied, no port hint (443 is the usual port)
    assert (result.code, result.status) == ("proxy.denied", "fail")
    assert result.data["status"] == 403
    assert result.data["hint"] == ""
    assert "refused CONNECT denied.lab.netcheck.test:443 (HTTP 403 Forbidden)" in result.detail


async def test_lab_proxy_port_policy_gives_the_443_hint(lab_proxy: LabProxy) -> None:
    # Given the lab proxy, which allows CONNECT to 443 only (and the lab port)
    # When CONNECT to port 8021
    result, _, conn = await probe(OK_HOST, 8021, http_proxy(lab_proxy.port))
    await conn.aclose()
    # Then proxy.denied with the hint that the proxy may allow only 443
    assert (result.code, result.status) == ("proxy.denied", "fail")
    assert "allow CONNECT only to port 443" in result.data["hint"]
    assert "allow CONNECT to port 8021" in result.data["hint"]
    assert result.data["hint"] in result.detail


async def test_lab_proxy_upstream_refused(lab_proxy: LabProxy, refused_port: int) -> None:
    # Given the lab proxy allowing any port, and a target port that refuses
    lab_proxy.allowed_ports = None
    # When CONNECT to it
    result, _, conn = await probe("refused.lab.netcheck.test", refused_port,
                                  http_proxy(lab_proxy.port))
    await conn.aclose()
    # Then proxy.upstream_failed: the proxy's own connection failed
    assert (result.code, result.status) == ("proxy.upstream_failed", "fail")
    assert result.data["status"] == 502
    assert f"could not reach refused.lab.netcheck.test:{refused_port} itself" in result.detail


async def test_lab_proxy_auth(upstream: TlsUpstream) -> None:
    # Given the lab proxy requiring Basic auth
    async with LabProxy(hosts={OK_HOST: "127.0.0.1"}, allowed_ports=None,
                        credentials=("alice", "s3cret")) as lab:
        # When CONNECT without, with wrong and with right credentials
        none, _, c1 = await probe(OK_HOST, upstream.port, http_proxy(lab.port))
        wrong, _, c2 = await probe(OK_HOST, upstream.port, http_proxy(lab.port, "alice:nope1234@"))
        right, _, c3 = await probe(OK_HOST, upstream.port, http_proxy(lab.port, "alice:s3cret@"))
        for c in (c1, c2, c3):
            await c.aclose()
    # Then 407 twice (saying whether credentials were given), then a tunnel
    assert (none.code, none.status) == ("proxy.auth_required", "fail")
    assert "no credentials were given" in none.detail
    assert wrong.code == "proxy.auth_required"
    assert "the credentials given were refused" in wrong.detail
    assert right.code == "proxy.ok"
    # and the password appears nowhere in the results
    for r in (wrong, right):
        assert "nope1234" not in repr(r) and "s3cret" not in repr(r)
        assert r.data["proxy"] == f"http://***@127.0.0.1:{lab.port}"


async def test_https_proxy_verified_with_system_store(
        monkeypatch: pytest.MonkeyPatch, pki: LabPki, upstream: TlsUpstream) -> None:
    # Given an https:// lab proxy whose certificate the (lab) system store trusts
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.system_bundle))
    tls = pki.server_context("127.0.0.1", ca=pki.enterprise)  # an IP SAN: no resolver
    async with LabProxy(hosts={OK_HOST: "127.0.0.1"}, allowed_ports=None,
                        ssl_context=tls) as lab:
        # When the runner's helper connects (TLS to the proxy, default context)
        result, _, conn = await probe(OK_HOST, upstream.port,
                                      parse_proxy_url(f"https://127.0.0.1:{lab.port}"))
        try:
            # Then CONNECT works over TLS and the endpoint's TLS nests inside
            assert result.code == "proxy.ok"
            issuer, status = await https_inside(conn, OK_HOST, pki)
        finally:
            await conn.aclose()
    assert issuer == "netcheck lab vendor CA"
    assert status.startswith(b"HTTP/1.1 204")


async def test_https_proxy_untrusted_certificate_raises_for_tcp_mapping(pki: LabPki) -> None:
    # Given an https:// proxy whose certificate no trust store holds
    tls = pki.server_context("127.0.0.1", ca=pki.rogue)
    async with LabProxy(ssl_context=tls) as lab:
        # When connect_to_proxy runs with the system store
        # Then it raises an SSL error (the runner maps it in the tcp phase)
        with pytest.raises(ssl.SSLCertVerificationError):
            await proxy_probe.connect_to_proxy(parse_proxy_url(f"https://127.0.0.1:{lab.port}"),
                                               TIMEOUT)


# -- open_tunnel (the runner's reconnect) ------------------------------------

async def test_open_tunnel_gives_a_second_tunnel_or_raises(lab_proxy: LabProxy,
                                                           upstream: TlsUpstream,
                                                           pki: LabPki) -> None:
    # Given the lab proxy
    proxy = http_proxy(lab_proxy.port)
    # When the reconnect path opens a tunnel to an allowed target
    conn = await proxy_probe.open_tunnel(proxy, OK_HOST, upstream.port, TIMEOUT)
    try:
        issuer, _ = await https_inside(conn, OK_HOST, pki)
    finally:
        await conn.aclose()
    # Then TLS works through it
    assert issuer == "netcheck lab vendor CA"
    # And for a denied target it raises TunnelError carrying the phase result
    with pytest.raises(proxy_probe.TunnelError) as exc:
        await proxy_probe.open_tunnel(proxy, "denied.lab.netcheck.test", 443, TIMEOUT)
    assert exc.value.result.code == "proxy.denied"
    assert isinstance(exc.value, ConnectionError)


# -- a real squid -------------------------------------------------------------

SQUID_USER, SQUID_PASSWORD = "alice", "s3cret-squid"


@pytest.fixture(scope="module")
def squid() -> Iterator[SquidLab]:
    if find_squid() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("squid is not installed: CI must install Debian's squid package")
        pytest.skip("squid is not installed (apt-get install squid openssl)")
    lab = SquidLab(names=[OK_HOST, DENIED_HOST, REFUSED_HOST], denied=[DENIED_HOST],
                   user=SQUID_USER, password=SQUID_PASSWORD)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()
        queries = lab.dns_queries()
        lab.cleanup()
    assert queries == [], f"squid sent DNS queries: {queries}"


async def test_squid_tunnel_carries_verified_tls(squid: SquidLab, upstream: TlsUpstream,
                                                 pki: LabPki) -> None:
    # Given a real squid and a lab HTTPS server on loopback
    # When the proxy phase asks squid for a tunnel and TLS runs inside it
    result, out, conn = await probe(OK_HOST, upstream.port, http_proxy(squid.open_port))
    try:
        assert (result.code, result.status) == ("proxy.ok", "pass")
        assert out is conn
        issuer, status = await https_inside(conn, OK_HOST, pki)
    finally:
        await conn.aclose()
    # Then squid's 200 opened the tunnel, and the lab server's certificate came through it
    assert result.data["status"] == 200
    assert result.detail == (f"Proxy http://127.0.0.1:{squid.open_port} opened a tunnel to "
                             f"{OK_HOST}:{upstream.port} (HTTP 200 Connection established).")
    assert issuer == "netcheck lab vendor CA"
    assert status.startswith(b"HTTP/1.1 204")


async def test_squid_denied_host(squid: SquidLab) -> None:
    # Given squid with an ACL denying denied.lab.netcheck.test
    # When CONNECT to it on 443
    result, out, conn = await probe(DENIED_HOST, 443, http_proxy(squid.open_port))
    await conn.aclose()
    # Then proxy.denied, with squid's own error name, and no port hint
    assert (result.code, result.status) == ("proxy.denied", "fail")
    assert out is None
    assert result.data["status"] == 403
    assert result.data["hint"] == ""
    assert result.data["headers"]["x-squid-error"] == "ERR_ACCESS_DENIED 0"
    assert result.data["headers"]["server"].startswith("squid/")
    assert result.detail == (f"Proxy http://127.0.0.1:{squid.open_port} refused CONNECT "
                             f"{DENIED_HOST}:443 (HTTP 403 Forbidden; "
                             f"x-squid-error: ERR_ACCESS_DENIED 0).")


async def test_squid_denies_port_8021_with_the_443_only_hint(squid: SquidLab) -> None:
    # Given squid's default SSL_ports rule (CONNECT to 443 only)
    # When CONNECT to an allowed lab host on 8021 (squid never connects anywhere)
    result, _, conn = await probe(OK_HOST, 8021, http_proxy(squid.open_port))
    await conn.aclose()
    # Then proxy.denied, and the hint says the proxy may allow CONNECT only to 443
    assert (result.code, result.status) == ("proxy.denied", "fail")
    assert result.data["status"] == 403
    assert result.data["hint"] == (
        "Many proxies allow CONNECT only to port 443 by default (squid's SSL_ports rule, "
        "most appliances' HTTPS service): allow CONNECT to port 8021 as well as the host.")
    assert result.detail.endswith(result.data["hint"])
    assert f"refused CONNECT {OK_HOST}:8021 (HTTP 403 Forbidden" in result.detail


async def test_squid_auth_required(squid: SquidLab, upstream: TlsUpstream,
                                   pki: LabPki) -> None:
    # Given squid's port that requires Basic authentication (basic_ncsa_auth)
    # When CONNECT without credentials, with a wrong password, and with the right one
    none, _, c1 = await probe(OK_HOST, upstream.port, http_proxy(squid.auth_port))
    wrong, _, c2 = await probe(OK_HOST, upstream.port,
                               http_proxy(squid.auth_port, f"{SQUID_USER}:wrong-pass@"))
    right, out, c3 = await probe(OK_HOST, upstream.port,
                                 http_proxy(squid.auth_port, f"{SQUID_USER}:{SQUID_PASSWORD}@"))
    try:
        issuer = (await https_inside(c3, OK_HOST, pki))[0] if out is not None else None
    finally:
        for c in (c1, c2, c3):
            await c.aclose()
    # Then 407 (proxy.auth_required) twice, naming the offered scheme, then a tunnel
    assert (none.code, none.status) == ("proxy.auth_required", "fail")
    assert none.data["status"] == 407
    assert none.data["auth_schemes"] == ["Basic"]
    assert none.detail == (
        f"Proxy http://127.0.0.1:{squid.auth_port} requires authentication (offers Basic) "
        f"for CONNECT {OK_HOST}:{upstream.port}: no credentials were given "
        f"(HTTP 407 Proxy Authentication Required; x-squid-error: ERR_CACHE_ACCESS_DENIED 0).")
    assert wrong.code == "proxy.auth_required"
    assert "the credentials given were refused" in wrong.detail
    assert right.code == "proxy.ok"
    assert issuer == "netcheck lab vendor CA"
    # and no password is anywhere in the results
    assert "wrong-pass" not in repr(wrong) and SQUID_PASSWORD not in repr(right)
    assert right.data["proxy"] == f"http://***@127.0.0.1:{squid.auth_port}"


async def test_squid_upstream_refused_is_upstream_failed(squid: SquidLab,
                                                         refused_port: int) -> None:
    # Given a lab name whose port refuses connections (nothing listens there)
    # When CONNECT to it through squid
    result, _, conn = await probe(REFUSED_HOST, refused_port, http_proxy(squid.open_port))
    await conn.aclose()
    # Then squid answers 503 (ERR_CONNECT_FAIL, errno 111) and the code is upstream_failed
    assert (result.code, result.status) == ("proxy.upstream_failed", "fail")
    assert result.data["status"] == 503
    assert result.data["headers"]["x-squid-error"] == "ERR_CONNECT_FAIL 111"
    assert result.detail == (
        f"Proxy http://127.0.0.1:{squid.open_port} could not reach "
        f"{REFUSED_HOST}:{refused_port} itself (HTTP 503 Service Unavailable; "
        f"x-squid-error: ERR_CONNECT_FAIL 111): the proxy's own egress to it is blocked "
        f"or the host is down.")


async def test_squid_reconnect_path_and_no_dns(squid: SquidLab, upstream: TlsUpstream,
                                               pki: LabPki) -> None:
    # Given squid
    proxy = http_proxy(squid.open_port)
    # When the runner's reconnect path opens a tunnel, then one to a denied host
    conn = await proxy_probe.open_tunnel(proxy, OK_HOST, upstream.port, TIMEOUT)
    try:
        issuer, _ = await https_inside(conn, OK_HOST, pki)
    finally:
        await conn.aclose()
    with pytest.raises(proxy_probe.TunnelError) as exc:
        await proxy_probe.open_tunnel(proxy, DENIED_HOST, 443, TIMEOUT)
    # Then the first carries TLS, the second raises with the denial
    assert issuer == "netcheck lab vendor CA"
    assert exc.value.result.code == "proxy.denied"
    # And squid resolved lab names from its hosts file only: no DNS query left it
    assert "Added nameserver #0 (127.0.0.1:53)" in squid.log()
    assert squid.dns_queries() == []
