"""Hostile lab servers on loopback: peers that try to hang netcheck, blow its
memory or smuggle text into its reports.

Every server listens on ``127.0.0.1`` (port chosen by the kernel), has
``async start()`` / ``async stop()`` (or ``async with``), ``.port``,
``.accepted`` and ``.bytes_sent`` (bytes the server managed to write: a
client that stops reading early leaves this at socket-buffer size).

Server / helper            behaviour                                    probe outcome
-------------------------  -------------------------------------------  ------------------
TrickleTlsServer           a real TLS server whose handshake bytes      tls.timeout
                           leave one per ``interval`` (slowloris)
TrickleHeadServer          TLS, then a response head one byte per       ws.timeout,
                           ``interval``, without end                    http.timeout
LongHeaderLineServer       TLS, then a status line and one header line  ws.protocol_error,
                           of ``size`` bytes (1 MB) with no line end    http.error
RawResponseServer          TLS, then exactly the bytes it is given      (what they say)
deep_chain_context()       a leaf under ``depth`` intermediate CAs      tls.ok / untrusted
cyclic_chain_context()     intermediates whose names form a cycle,      tls.untrusted
                           each signing the others (a chain-walk bomb)
hostile_ca()               a CA whose name carries markup, terminal     tls.untrusted
                           escapes and a NUL

Only loopback: nothing here listens on or sends to another address.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import trustme

from netcheck.lab.app_servers import StreamTlsServer, _read_request_head
from netcheck.lab.tcp_servers import StreamServer

# What a hostile peer would put in any text field netcheck shows: HTML, rich
# markup, a CSI colour, an OSC window-title change ended by BEL, and a NUL.
HOSTILE_TEXT = ("<script>alert(1)</script> [bold red]RICH[/bold red] "
                "\x1b[31mCSI-EVIL \x1b]0;pwned-title\x07 nul\x00end")
# The same in what HTTP's parsers let through (obs-text, not C0): C1 controls
# decoded from ISO-8859-1 (0x9b is an 8-bit CSI, 0x9d an 8-bit OSC).
HOSTILE_HTTP_TEXT = (b"<script>alert(1)</script> [bold red]RICH[/bold red] "
                     b"\x9b31mC1-EVIL \x9d0;t\x9c")


class TrickleTlsServer(StreamServer):
    """Accepts, reads the ClientHello, and answers with a real TLS server's
    handshake bytes, one every ``interval`` seconds (slowloris).

    The handshake is computed by an ``ssl.SSLObject`` on memory BIOs, so what
    trickles out is a genuine ServerHello and certificate, just slow.
    """

    def __init__(self, context: ssl.SSLContext, interval: float = 1.0) -> None:
        super().__init__()
        self.context = context
        self.interval = interval
        self.bytes_sent = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        hello = await reader.read(65536)
        if not hello:
            return
        incoming.write(hello)
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass  # waits for the client's Finished, which never comes in time
        except ssl.SSLError:
            return
        for byte in outgoing.read():
            writer.write(bytes([byte]))
            self.bytes_sent += 1
            await writer.drain()
            if not await _pause(reader, self.interval):
                return
        await reader.read()


async def _pause(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Wait ``seconds``, or less if the client hangs up; False once it has
    (so the server stops at once and ``bytes_sent`` is what the client saw)."""
    try:
        data = await asyncio.wait_for(reader.read(65536), seconds)
    except TimeoutError:
        return True
    return bool(data)


def _endless(head: bytes) -> Iterator[int]:
    yield from head
    while True:
        yield from b"X-Slow: " + b"a" * 64 + b"\r\n"


class TrickleHeadServer(StreamTlsServer):
    """TLS at full speed, then, after the request, a response head one byte
    every ``interval`` seconds and never its end (slowloris on the head)."""

    def __init__(self, ssl_context: ssl.SSLContext,
                 status_line: bytes = b"HTTP/1.1 200 OK", interval: float = 1.0) -> None:
        super().__init__(ssl_context)
        self.status_line = status_line
        self.interval = interval

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request_head(reader)
        for byte in _endless(self.status_line + b"\r\n"):
            await self.send(writer, bytes([byte]))
            if not await _pause(reader, self.interval):
                return


class LongHeaderLineServer(StreamTlsServer):
    """A status line, then one header line of ``size`` bytes that never ends."""

    def __init__(self, ssl_context: ssl.SSLContext, size: int = 1024 * 1024,
                 status_line: bytes = b"HTTP/1.1 200 OK") -> None:
        super().__init__(ssl_context)
        self.size = size
        self.status_line = status_line

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request_head(reader)
        await self.send(writer, self.status_line + b"\r\nX-Long: ")
        chunk = b"a" * 16384
        while self.bytes_sent < self.size:
            await self.send(writer, chunk)
        await reader.read()


class RawResponseServer(StreamTlsServer):
    """After the request head, exactly ``response`` (any bytes), then waits."""

    def __init__(self, ssl_context: ssl.SSLContext, response: bytes) -> None:
        super().__init__(ssl_context)
        self.response = response

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request_head(reader)
        await self.send(writer, self.response)
        await reader.read()


# -- certificates ---------------------------------------------------------------


def _server_context(leaf: trustme.LeafCert) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(ctx)  # sends the whole chain, leaf first
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def deep_root(depth: int) -> trustme.CA:
    """A root whose path-length constraint allows ``depth`` intermediates."""
    return trustme.CA(organization_name="netcheck lab deep root", path_length=depth + 1)


def deep_chain_context(root: trustme.CA, depth: int, host: str) -> ssl.SSLContext:
    """A server context presenting a leaf for ``host`` under ``depth``
    intermediates below ``root``. The intermediates are made directly (not
    with ``create_child_ca``), so their depth may exceed what ``root``'s own
    path-length constraint allows: that is how a "too deep" chain is made."""
    ca = root
    for _ in range(depth):
        ca = trustme.CA(parent_cert=ca, path_length=depth + 1)
    return _server_context(ca.issue_cert(host))


def hostile_ca() -> trustme.CA:
    """A CA whose organisation name is :data:`HOSTILE_TEXT`."""
    return trustme.CA(organization_name=HOSTILE_TEXT)


def hostile_context(host: str) -> ssl.SSLContext:
    return _server_context(hostile_ca().issue_cert(host))


def cyclic_chain_context(host: str, per_name: int = 4) -> ssl.SSLContext:
    """A leaf for ``host`` followed by ``2 * per_name`` CA certificates with
    one key and two names, X and Y: every X certificate is issued by Y and
    every Y by X, so each one is signed by all of the other name's. Nothing
    anchors it, but a chain walk that does not remember where it has been
    explores ``per_name ** depth`` paths before giving up."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)

    def name(label: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "netcheck lab cycle"),
                          x509.NameAttribute(NameOID.COMMON_NAME, label)])

    def cert(subject: x509.Name, issuer: x509.Name, ca: bool,
             san: str | None = None) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                                  critical=True))
        if san is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        return builder.sign(key, hashes.SHA256())

    x_name, y_name = name("X"), name("Y")
    chain = [cert(name(host), x_name, False, san=host)]
    for _ in range(per_name):
        chain.append(cert(x_name, y_name, True))
        chain.append(cert(y_name, x_name, True))
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="netcheck-cycle-") as tmp:
        cert_file, key_file = Path(tmp) / "chain.pem", Path(tmp) / "key.pem"
        cert_file.write_bytes(pem)
        key_file.write_bytes(key_pem)
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


__all__ = [
    "HOSTILE_HTTP_TEXT", "HOSTILE_TEXT", "LongHeaderLineServer", "RawResponseServer",
    "TrickleHeadServer", "TrickleTlsServer", "cyclic_chain_context", "deep_chain_context",
    "deep_root", "hostile_ca", "hostile_context",
]
