"""TLS lab servers on loopback: one certificate (or protocol) per TLS verdict.

:class:`TlsServer` accepts TCP, counts the accept, then runs the TLS handshake
itself (``StreamWriter.start_tls`` on the server side) so that a handshake the
client aborts is still counted as one connection; after the handshake it runs
an optional application handler ``async (reader, writer)`` (default: hold the
connection until the client closes), so HTTPS/websocket lab servers can reuse
it. :func:`scenario_context` builds the server context for each verdict from
:class:`netcheck.lab.pki.LabPki`:

scenario        certificate / protocol                            TLS verdict
--------------  ------------------------------------------------  -------------------------
good            vendor CA (trusted through --ca-bundle)            tls.ok
expired         vendor CA, expired yesterday                       tls.expired
not_yet_valid   vendor CA, valid from the day after tomorrow       tls.not_yet_valid
wrong_host      vendor CA, for another name                        tls.hostname_mismatch
untrusted       rogue CA, trusted nowhere                          tls.untrusted
enterprise      enterprise CA (system store only)                  tls.intercepted
inspection      CA named "Zscaler Inc." trusted nowhere            tls.intercepted
expiring        vendor CA, expires in 3 days                       tls.expiring_soon (warn)
tls11           vendor CA, TLS 1.0-1.1 only (SECLEVEL 0)           tls.version
tls12           vendor CA, at most TLS 1.2                         tls.version if min "1.3"

:class:`PlainHttpServer` answers an HTTP 400 to whatever it is sent: a plain
HTTP service on a TLS port (``tls.protocol_error``).
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from typing import Literal

from netcheck.lab.pki import LabPki, days_from_now
from netcheck.lab.tcp_servers import LOOPBACK, Handler, StreamServer, read_until_eof

Scenario = Literal["good", "expired", "not_yet_valid", "wrong_host", "untrusted",
                   "enterprise", "inspection", "expiring", "tls11", "tls12"]
SCENARIOS: tuple[Scenario, ...] = ("good", "expired", "not_yet_valid", "wrong_host",
                                   "untrusted", "enterprise", "inspection", "expiring",
                                   "tls11", "tls12")

WRONG_HOST = "elsewhere.lab.netcheck.test"
ALPN = ["http/1.1"]
_HANDSHAKE_TIMEOUT = 5.0


def scenario_context(pki: LabPki, scenario: Scenario, host: str) -> ssl.SSLContext:
    """A server context for ``host`` that produces ``scenario``'s verdict."""
    if scenario == "good":
        return pki.server_context(host, alpn=ALPN)
    if scenario == "expired":
        return pki.server_context(host, not_before=days_from_now(-30),
                                  not_after=days_from_now(-1), alpn=ALPN)
    if scenario == "not_yet_valid":
        return pki.server_context(host, not_before=days_from_now(2),
                                  not_after=days_from_now(60), alpn=ALPN)
    if scenario == "wrong_host":
        return pki.server_context(WRONG_HOST, alpn=ALPN)
    if scenario == "untrusted":
        return pki.server_context(host, ca=pki.rogue, alpn=ALPN)
    if scenario == "enterprise":
        return pki.server_context(host, ca=pki.enterprise, alpn=ALPN)
    if scenario == "inspection":
        return pki.server_context(host, ca=pki.inspection, alpn=ALPN)
    if scenario == "expiring":
        return pki.server_context(host, not_before=days_from_now(-60),
                                  not_after=days_from_now(3), alpn=ALPN)
    if scenario == "tls11":
        ctx = pki.server_context(host, alpn=ALPN)
        # OpenSSL 3 refuses TLS < 1.2 at security level 1 and above (SHA-1 in
        # the handshake signature); level 0 brings it back, as on the old
        # appliances this scenario stands for. Python flags the old versions
        # as deprecated, which the test suite turns into errors.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        return ctx
    if scenario == "tls12":
        return pki.server_context(host, max_version=ssl.TLSVersion.TLSv1_2, alpn=ALPN)
    raise ValueError(f"unknown TLS scenario {scenario!r}")


class TlsServer(StreamServer):
    """TLS with ``context``, then ``handler`` on the decrypted streams."""

    def __init__(self, context: ssl.SSLContext, handler: Handler | None = None,
                 host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__(handler or read_until_eof, host, port)
        self.context = context
        self.handshakes = 0  # completed TLS handshakes
        self.handshake_errors: list[str] = []

    @classmethod
    def for_scenario(cls, pki: LabPki, scenario: Scenario, host: str,
                     handler: Handler | None = None, bind: str = LOOPBACK) -> TlsServer:
        return cls(scenario_context(pki, scenario, host), handler, bind)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.start_tls(self.context, ssl_handshake_timeout=_HANDSHAKE_TIMEOUT)
        except (OSError, EOFError) as exc:  # the probe rejected us: expected
            self.handshake_errors.append(f"{type(exc).__name__}: {exc}")
            return
        self.handshakes += 1
        await super().serve(reader, writer)


_BODY = b"This is a plain HTTP service.\r\n"
_HTTP_400 = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
             b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(_BODY)) + _BODY


async def _answer_http_400(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)
    writer.write(_HTTP_400)
    await writer.drain()


class PlainHttpServer(StreamServer):
    """Plain HTTP where TLS is expected: answers 400 to the ClientHello."""

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__(_answer_http_400, host, port)
