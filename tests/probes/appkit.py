"""Helpers for the application-phase tests (websocket, https): what the runner
would have done before these phases -- TCP, then TLS on the same streams.

Plain functions only (no fixtures), so importing this module cannot clash
with another test folder's conftest.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from netcheck.catalog import Endpoint, ProbeKind
from netcheck.lab.pki import LabPki
from netcheck.model import PhaseResult
from netcheck.probes.base import Connection, ProbeContext, ProbeOptions

WS_HOST = "ws.lab.netcheck.test"
API_HOST = "api.lab.netcheck.test"

ProbeRun = Callable[[ProbeContext, Connection | None],
                    Awaitable[tuple[PhaseResult, Connection | None]]]


def client_context(pki: LabPki) -> ssl.SSLContext:
    """A client context trusting the lab's 'public web PKI' (the vendor CA)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.load_verify_locations(cadata=pki.vendor.cert_pem.bytes().decode())
    return ctx


async def open_tls(pki: LabPki, port: int, hostname: str) -> Connection:
    """TCP to 127.0.0.1:port, then TLS with SNI ``hostname`` on the same streams."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await writer.start_tls(client_context(pki), server_hostname=hostname,
                               ssl_handshake_timeout=2.0)
    except BaseException:
        writer.transport.abort()
        raise
    return Connection(reader, writer, tls=True)


def context(hostname: str, port: int, *, probe: ProbeKind, path: str = "/",
            expect_status: tuple[int, ...] | None = None, timeout: float = 1.0) -> ProbeContext:
    endpoint = Endpoint(name="lab", host=hostname, port=port, probe=probe, path=path,
                        expect_status=expect_status)
    return ProbeContext(endpoint=endpoint, ip="127.0.0.1", options=ProbeOptions(timeout=timeout))


@dataclass(frozen=True, slots=True)
class Ran:
    result: PhaseResult
    seconds: float
    same_connection: bool  # the probe handed back the connection it was given


async def run_probe(run: ProbeRun, pki: LabPki, port: int, hostname: str, *,
                    probe: ProbeKind, path: str = "/",
                    expect_status: tuple[int, ...] | None = None,
                    timeout: float = 1.0) -> Ran:
    """Connect like the runner, run one probe, close like the runner."""
    conn = await open_tls(pki, port, hostname)
    ctx = context(hostname, port, probe=probe, path=path, expect_status=expect_status,
                  timeout=timeout)
    t0 = time.perf_counter()
    try:
        result, out = await run(ctx, conn)
    finally:
        seconds = time.perf_counter() - t0
        await conn.aclose(timeout=0.3)  # the runner waits longer; tests need not
    return Ran(result, seconds, out is conn)
