"""What every probe shares: the context it runs in, the connection it is
handed, and the one shape of a probe.

A probe is ``async def run(ctx, conn) -> (PhaseResult, conn)``: it takes what
the previous phase left (an open connection, or ``None`` for the first phase)
and returns its result plus what the next phase needs. It never raises for a
network outcome: every network outcome is a code from :mod:`netcheck.codes`.
Only bugs raise.

The runner owns what is common to all probes: the order of phases, timing
(``duration_ms`` is measured by the runner and overwrites whatever the probe
put there), skipping after a failure, closing the connection at the end, and
a backstop deadline of ``ctx.timeout + BACKSTOP_GRACE`` that maps a probe
which overran to the prober's ``timeout_code``. Probes honour ``ctx.timeout``
themselves because only they know *where* they stalled (``ws.no_pong`` after
a good upgrade is not ``ws.timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netcheck import codes
from netcheck.catalog import Endpoint
from netcheck.model import PhaseResult

BACKSTOP_GRACE = 1.0


@dataclass(slots=True)
class Connection:
    """One TCP connection, reused through every phase of a target.

    After the TLS phase the same streams carry TLS (``StreamWriter.start_tls``
    swaps the transport underneath), so phases never open a second connection
    on the happy path.
    """

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    tls: bool = False

    async def aclose(self, timeout: float = 1.0) -> None:
        """Close without ever raising or hanging (a peer may be hostile)."""
        with contextlib.suppress(Exception):
            self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), timeout)
        transport = self.writer.transport
        with contextlib.suppress(Exception):
            transport.abort()


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """An HTTP(S) forward proxy; ``display`` has credentials redacted."""

    scheme: str  # "http" | "https"
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def display(self) -> str:
        auth = "***@" if self.username is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{auth}{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """Run-wide settings every probe may read."""

    timeout: float | None = None  # --timeout; None = the catalogue's per-endpoint value
    ca_bundle: Path | None = None  # extra trust anchors for the public trust set
    cert_warn_days: int = 14
    resolvers: tuple[tuple[str, int], ...] = ()  # empty = the system's resolvers
    proxy: ProxyConfig | None = None


@dataclass(frozen=True, slots=True)
class ProbeContext:
    endpoint: Endpoint
    ip: str | None  # None through a proxy: the tunnel is opened by hostname
    options: ProbeOptions
    # A fresh connection to the same target by the same path (TCP, and the
    # proxy tunnel when there is one), for the rare probe that needs a second
    # one: the TLS phase, to read a certificate that failed verification.
    reconnect: Callable[[], Awaitable[Connection]] | None = None

    @property
    def timeout(self) -> float:
        if self.options.timeout is not None:
            return self.options.timeout
        return self.endpoint.timeout

    @property
    def target(self) -> str:
        """What was connected to: the IP, or the host through a proxy."""
        return self.ip if self.ip is not None else self.endpoint.host


ProbeFn = Callable[[ProbeContext, Connection | None],
                   Awaitable[tuple[PhaseResult, Connection | None]]]


@dataclass(frozen=True, slots=True)
class Prober:
    phase: str
    run: ProbeFn
    timeout_code: str


def outcome(phase: str, code: str, detail: str = "",
            data: Mapping[str, Any] | None = None) -> PhaseResult:
    """A phase result whose status comes from the codes table."""
    assert code in codes.CODES, f"unknown result code {code}"
    return PhaseResult(phase=phase, status=codes.status_of(code), code=code,
                       detail=detail, data=dict(data or {}), duration_ms=0.0)
