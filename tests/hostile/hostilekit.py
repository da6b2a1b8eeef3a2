"""Fixtures for the hostile-server tests: the lab PKI, servers started and
stopped around a test, and the phases driven exactly as the runner drives
them (TCP, then TLS on the same streams, then the application phase)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from netcheck.catalog import Endpoint, ProbeKind, TlsPolicy
from netcheck.lab.pki import LabPki
from netcheck.model import PhaseResult
from netcheck.probes import tcp
from netcheck.probes.base import Connection, ProbeContext, ProbeFn, ProbeOptions

S = TypeVar("S")
Start = Callable[..., Awaitable[Any]]

TIMEOUT = 1.0
# "Within the phase timeout": the probe's own deadline, plus loose slack for
# a loaded CI machine (the runner's backstop alone would allow timeout + 1 s).
SLACK = 1.5


@pytest.fixture(scope="module")
def pki() -> Iterator[LabPki]:
    lab = LabPki()
    yield lab
    lab.close()


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """``await start(ServerClass, *args)``: started now, stopped after the test."""
    started: list[Any] = []

    async def _start(cls: type[S], *args: Any, **kwargs: Any) -> S:
        server = cls(*args, **kwargs)
        await server.start()  # type: ignore[attr-defined]
        started.append(server)
        return server

    yield _start
    for server in reversed(started):
        await server.stop()


@dataclass(frozen=True, slots=True)
class Phases:
    """What one target's phases gave, and what that cost."""

    results: dict[str, PhaseResult]
    seconds: float
    peak_bytes: int  # tracemalloc peak while the phases ran


def endpoint(host: str, port: int, probe: ProbeKind = "wss", *, timeout: float = TIMEOUT,
             path: str = "/", expect_status: tuple[int, ...] | None = None) -> Endpoint:
    return Endpoint(name="hostile", host=host, port=port, probe=probe, path=path,
                    timeout=timeout, expect_status=expect_status, tls=TlsPolicy())


async def run_phases(ep: Endpoint, *, ca_bundle: Path | None,
                     phases: tuple[str, ...] = ("tcp", "tls", "app")) -> Phases:
    """TCP, TLS and the application phase on one connection, like the runner,
    measuring wall time and the peak of Python allocations."""
    from netcheck.probes import https, tls, websocket

    async def reconnect() -> Connection:
        return await tcp.connect("127.0.0.1", ep.port, ep.timeout)

    ctx = ProbeContext(endpoint=ep, ip="127.0.0.1", options=ProbeOptions(ca_bundle=ca_bundle),
                       reconnect=reconnect)
    app: ProbeFn = websocket.run if ep.probe == "wss" else https.run
    runs: dict[str, ProbeFn] = {"tcp": tcp.run, "tls": tls.run, "app": app}
    results: dict[str, PhaseResult] = {}
    conn: Connection | None = None
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        for name in phases:
            result, conn = await runs[name](ctx, conn)
            results[result.phase] = result
            if result.status != "pass" or conn is None:
                break
    finally:
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if conn is not None:
            await conn.aclose(timeout=0.2)
    return Phases(results, seconds, peak)


async def open_tls(pki: LabPki, port: int, host: str) -> Connection:
    """What the TLS phase leaves, without running it (for app-phase tests)."""
    conn = await tcp.connect("127.0.0.1", port, TIMEOUT)
    await conn.writer.start_tls(_client(pki), server_hostname=host, ssl_handshake_timeout=2.0)
    conn.tls = True
    return conn


def _client(pki: LabPki) -> Any:
    import ssl

    ctx = ssl.create_default_context()
    pki.vendor.configure_trust(ctx)
    return ctx


class ServerThread:
    """Servers on an event loop of their own, in a thread, as the lab runs
    them: a flooding server then cannot starve the client's loop, so the
    client's timings are its own."""

    def __init__(self) -> None:
        import asyncio
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="hostile-servers")
        self._thread.start()
        self._servers: list[Any] = []

    def _call(self, coro: Any) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def start(self, cls: type[S], *args: Any, **kwargs: Any) -> S:
        server = cls(*args, **kwargs)
        self._call(server.start())  # type: ignore[attr-defined]
        self._servers.append(server)
        return server

    def close(self) -> None:
        for server in reversed(self._servers):
            self._call(server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture
def threaded() -> Iterator[ServerThread]:
    servers = ServerThread()
    yield servers
    servers.close()


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak_rss() -> int:
    """Reset this process's peak RSS (VmHWM) to its current RSS, in bytes.

    ``echo 5 > /proc/self/clear_refs`` (Linux >= 4.0) does the reset. Used
    where tracemalloc's per-allocation cost would itself slow the run past
    its timeouts (the whole pipeline, servers included)."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS") * 1024


def peak_rss() -> int:
    return _status_kib("VmHWM") * 1024
