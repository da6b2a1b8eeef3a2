"""Schedules endpoints and targets: the one place that owns timing,
concurrency, phase order and skipping.

    endpoint ──dns (once per distinct host)──▶ targets = resolved + expected
        target ──▶ tcp ──▶ (proxy) ──▶ tls ──▶ websocket | https

Endpoints run concurrently, up to twice ``concurrency`` of them at a time,
taken in catalogue order; ``concurrency`` bounds how many targets
hold an open connection at once (an open TLS connection costs ~300 KiB, so
this bound is what bounds memory). Results come out in catalogue order,
whatever order they finished in. Nothing here prints: progress goes to the
``on_event`` callback, which the CLI turns into a progress bar.

On cancellation (Ctrl-C, SIGTERM) every open connection is closed by the
``finally`` of its target, and :meth:`Run.report` still builds a report of
what finished, marked ``interrupted``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
import logging
import os
import platform
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from netcheck import __version__, codes, diagnosis
from netcheck.catalog import Catalog, Endpoint
from netcheck.model import (
    CatalogInfo,
    DnsResult,
    EndpointResult,
    HostInfo,
    PhaseResult,
    RunReport,
    TargetResult,
    TargetSource,
    skipped,
)
from netcheck.probes.base import (
    BACKSTOP_GRACE,
    Connection,
    ProbeContext,
    ProbeOptions,
    Prober,
    outcome,
)
from netcheck.sanitize import clean

TargetsMode = Literal["both", "resolved", "expected"]

DNS_CONCURRENCY = 32  # hosts resolved at once, at most
ENDPOINT_WORKERS_PER_SLOT = 2  # endpoints in progress per connection slot

log = logging.getLogger("netcheck.runner")


@dataclass(frozen=True, slots=True)
class RunOptions:
    probe: ProbeOptions = field(default_factory=ProbeOptions)
    targets: TargetsMode = "both"
    concurrency: int = 64
    no_proxy: str = ""  # NO_PROXY list: hosts that bypass options.probe.proxy
    # The whole run's limit in seconds (None: only the per-phase timeouts).
    # A phase still running when it passes ends with its timeout code; a
    # target that never got a connection slot is skipped, not failed, so
    # the report never asks for an allow rule to an address never tried.
    deadline: float | None = None


# -- progress events (the console subscribes; the runner never prints) -------

@dataclass(frozen=True, slots=True)
class RunStarted:
    endpoints: int


@dataclass(frozen=True, slots=True)
class EndpointFinished:
    index: int
    result: EndpointResult


Event = RunStarted | EndpointFinished
EventSink = Callable[[Event], None]


# -- phases ------------------------------------------------------------------

_PROBE_MODULES = {
    "tcp": "netcheck.probes.tcp",
    "proxy": "netcheck.probes.proxy",
    "tls": "netcheck.probes.tls",
    "websocket": "netcheck.probes.websocket",
    "https": "netcheck.probes.https",
}


def prober(phase: str) -> Prober:
    """The registered prober of a phase (modules import on first use)."""
    p: Prober = importlib.import_module(_PROBE_MODULES[phase]).PROBER
    return p


def phases_for(endpoint: Endpoint, proxied: bool) -> list[str]:
    """The phases a target of this endpoint goes through, in order."""
    phases = ["tcp"]
    if proxied:
        phases.append("proxy")
    if endpoint.probe != "tcp":
        phases.append("tls")
    if endpoint.probe == "wss":
        phases.append("websocket")
    elif endpoint.probe == "https":
        phases.append("https")
    return phases


def plan_targets(dns: DnsResult, expected: tuple[str, ...],
                 mode: TargetsMode) -> list[tuple[str, TargetSource]]:
    """Which IPs to probe, each with where it came from.

    Published addresses first (catalogue order), then answers outside the
    list. A CDN endpoint has no published addresses, so ``expected`` mode
    falls back to what DNS returned rather than probing nothing.
    """
    resolved = list(dns.addresses)
    resolved_set = set(resolved)
    expected_set = set(expected)
    plan: list[tuple[str, TargetSource]] = []
    if mode in ("both", "expected") or not resolved:
        for ip in expected:
            plan.append((ip, "both" if ip in resolved_set else "expected"))
    if mode in ("both", "resolved") or not expected:
        for ip in resolved:
            if ip not in expected_set:
                plan.append((ip, "resolved"))
            elif mode == "resolved":
                plan.append((ip, "both"))
    if mode == "resolved" and not resolved:
        plan = [(ip, "expected") for ip in expected]
    return plan


def _ms(since: float) -> float:
    """Milliseconds since a perf_counter() reading, to the microsecond (what
    the report keeps, so a saved report loads back equal)."""
    return round((time.perf_counter() - since) * 1000, 3)


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _no_proxy_match(host: str, port: int, no_proxy: str) -> bool:
    if not no_proxy:
        return False
    from netcheck.proxyconf import bypasses_proxy

    return bypasses_proxy(host, port, no_proxy)


class Run:
    """One run of a catalogue. ``await execute()``, then ``report()``."""

    def __init__(self, catalog: Catalog, options: RunOptions,
                 on_event: EventSink | None = None) -> None:
        self.catalog = catalog
        self.options = options
        self._on_event = on_event
        self._results: dict[int, EndpointResult] = {}
        self._dns_tasks: dict[str, asyncio.Task[tuple[object, float]]] = {}
        self._dns_results: dict[tuple[str, tuple[str, ...]], DnsResult] = {}
        self._slots = asyncio.Semaphore(max(1, options.concurrency))
        # DNS has its own, smaller bound: A + AAAA for 2 x concurrency hosts at
        # once is a burst of datagrams that overflows a small resolver's receive
        # buffer, and every datagram lost costs a retry after seconds.
        self._dns_slots = asyncio.Semaphore(max(1, min(options.concurrency, DNS_CONCURRENCY)))
        self._started_at = _utc_now()
        from netcheck import environment

        host = host_info(options.probe,
                         options.probe.proxy.display if options.probe.proxy else None)
        # Collected once per run (files and `ip` only: nothing is sent).
        facts = environment.collect(catalog_hosts=[e.host for e in catalog.endpoints],
                                    proxy_env=os.environ)
        # JSON-native (lists, not tuples), so a saved report loads back equal.
        self.host = replace(host, environment=json.loads(json.dumps(facts)))
        self._t0 = time.perf_counter()
        self._deadline_at = (self._t0 + options.deadline) if options.deadline else None
        self.interrupted = False

    # -- public --------------------------------------------------------------

    async def execute(self) -> RunReport:
        self._emit(RunStarted(len(self.catalog.endpoints)))
        # A pool of workers pulls endpoints in catalogue order, rather than a
        # Task per endpoint created up front: 10,000 endpoints would otherwise
        # live as 10,000 suspended coroutines at once, and memory and the
        # garbage collector's work would grow with the catalogue instead of
        # with --concurrency. Twice the connection bound keeps every slot busy
        # while some endpoints wait for DNS.
        pending = iter(enumerate(self.catalog.endpoints))

        async def worker() -> None:
            for i, ep in pending:  # one shared iterator: each endpoint is taken once
                await self._endpoint(i, ep)

        workers = min(len(self.catalog.endpoints), ENDPOINT_WORKERS_PER_SLOT
                      * max(1, self.options.concurrency))
        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(workers):
                    tg.create_task(worker())
        except asyncio.CancelledError:
            self.interrupted = True
            raise
        return self.report()

    def report(self, interrupted: bool | None = None) -> RunReport:
        """A report of every endpoint that finished, in catalogue order."""
        done = tuple(self._results[i] for i in sorted(self._results))
        o = self.options
        proxy = o.probe.proxy.display if o.probe.proxy else None
        host = self.host
        return RunReport(
            tool_version=__version__,
            started_at=self._started_at,
            finished_at=_utc_now(),
            duration_ms=_ms(self._t0),
            interrupted=self.interrupted if interrupted is None else interrupted,
            host=host,
            catalog=CatalogInfo(self.catalog.source, self.catalog.sha256,
                                len(self.catalog.endpoints)),
            options={
                # The --timeout given, else the longest per-phase timeout of
                # the catalogue: the number DESIGN's report shows, never null.
                "timeout": (o.probe.timeout if o.probe.timeout is not None else
                            max((e.timeout for e in self.catalog.endpoints), default=5.0)),
                "targets": o.targets,
                "concurrency": o.concurrency,
                "deadline": o.deadline,
                "resolvers": list(host.resolvers) if o.probe.resolvers else [],
                "ca_bundle": str(o.probe.ca_bundle) if o.probe.ca_bundle else None,
                "cert_warn_days": o.probe.cert_warn_days,
                "proxy": proxy,
            },
            summary=diagnosis.summarize(done),
            endpoints=done,
        )

    # -- internals -----------------------------------------------------------

    def _emit(self, event: Event) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _timeout(self, ep: Endpoint) -> float:
        t = self.options.probe.timeout
        return t if t is not None else ep.timeout

    def _remaining(self) -> float | None:
        """Seconds left before the run's deadline (None: no deadline)."""
        if self._deadline_at is None:
            return None
        return self._deadline_at - time.perf_counter()

    async def _dns(self, ep: Endpoint) -> DnsResult:
        from netcheck.probes import dns

        # Asked once per distinct host: endpoints sharing a host share the
        # answer; each compares it with its own published list.
        key = ep.host.lower()
        task = self._dns_tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(self._query(ep.host, self._timeout(ep)))
            self._dns_tasks[key] = task
        answer, ms = await asyncio.shield(task)
        # The same answer against the same published list is the same result:
        # compare once and share it (results are frozen), rather than keep one
        # copy of the per-resolver facts per endpoint of a fleet catalogue.
        compared = self._dns_results.get((key, ep.expected_ips))
        if compared is None:
            result: DnsResult = dns.compare(answer, ep.expected_ips)  # type: ignore[arg-type]
            compared = replace(result, duration_ms=ms)
            self._dns_results[(key, ep.expected_ips)] = compared
        return compared

    async def _query(self, host: str, timeout: float) -> tuple[object, float]:
        from netcheck.probes import dns

        async with self._dns_slots:
            t0 = time.perf_counter()
            remaining = self._remaining()
            if remaining is not None:
                timeout = max(0.001, min(timeout, remaining))
            answer = await dns.query(host, self.options.probe.resolvers, timeout)
            return answer, _ms(t0)

    async def _endpoint(self, index: int, ep: Endpoint) -> None:
        proxy = self.options.probe.proxy
        proxied = proxy is not None and not _no_proxy_match(
            ep.host, ep.port, self.options.no_proxy)
        dns_result = await self._dns(ep)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s dns: %s %s in %.1f ms: %s", ep.name, dns_result.status,
                      dns_result.code, dns_result.duration_ms, clean(dns_result.detail))
        if proxied:
            plan: list[tuple[str | None, TargetSource]] = [(None, "proxy")]
        else:
            plan = list(plan_targets(dns_result, ep.expected_ips, self.options.targets))
        targets = await asyncio.gather(*(self._target(ep, ip, src, proxied) for ip, src in plan))
        proxy_display = proxy.display if proxied and proxy is not None else None
        status = diagnosis.endpoint_status(dns_result, tuple(targets))
        findings = diagnosis.findings_for(
            name=ep.name, host=ep.host, port=ep.port, dns=dns_result,
            targets=tuple(targets), proxy=proxy_display, resolvers=self.host.resolvers)
        result = EndpointResult(
            name=ep.name, host=ep.host, port=ep.port, probe=ep.probe,
            required=ep.required, tags=ep.tags, purpose=ep.purpose, status=status,
            dns=dns_result, targets=tuple(targets), findings=findings)
        self._results[index] = result
        self._emit(EndpointFinished(index, result))

    def _context(self, ep: Endpoint, ip: str | None, proxied: bool) -> ProbeContext:
        options = self.options.probe
        timeout = self._timeout(ep)

        async def reconnect() -> Connection:
            from netcheck.probes import tcp

            if proxied and options.proxy is not None:
                from netcheck.probes import proxy as proxy_probe

                return await proxy_probe.open_tunnel(options.proxy, ep.host, ep.port, timeout)
            assert ip is not None
            return await tcp.connect(ip, ep.port, timeout)

        return ProbeContext(endpoint=ep, ip=ip, options=options, reconnect=reconnect)

    async def _target(self, ep: Endpoint, ip: str | None, source: TargetSource,
                      proxied: bool) -> TargetResult:
        ctx = self._context(ep, ip, proxied)
        names = phases_for(ep, proxied)
        results: list[PhaseResult] = []
        opened: list[Connection] = []
        debug = log.isEnabledFor(logging.DEBUG)
        async with self._slots:
            try:
                conn: Connection | None = None
                stop = False
                for name in names:
                    if stop:
                        results.append(skipped(name))
                        continue
                    remaining = self._remaining()
                    if remaining is not None and remaining <= 0:
                        results.append(replace(skipped(name), detail=(
                            "not run: the run's deadline of "
                            f"{self.options.deadline:g} s was reached first")))
                        stop = True
                        continue
                    result, conn = await self._phase(name, ctx, conn)
                    if debug:  # clean() is not free: only for a log that is kept
                        log.debug("%s %s %s: %s %s in %.1f ms: %s", ep.name, ctx.target, name,
                                  result.status, result.code, result.duration_ms,
                                  clean(result.detail))
                    if conn is not None and all(conn is not c for c in opened):
                        opened.append(conn)
                    results.append(result)
                    stop = result.status in ("fail", "skip") or conn is None
            finally:
                # A failed exchange may have a hostile peer still sending: a
                # graceful TLS shutdown would wait for it, so abort quickly.
                graceful = all(r.status in ("pass", "warn") for r in results)
                for c in opened:
                    await c.aclose(timeout=1.0 if graceful else 0.1)
        status = codes.worst([r.status for r in results])
        return TargetResult(ip=ip, source=source, status=status, phases=tuple(results))

    async def _phase(self, name: str, ctx: ProbeContext, conn: Connection | None
                     ) -> tuple[PhaseResult, Connection | None]:
        p = prober(name)
        t0 = time.perf_counter()
        # Backstop only: probes honour ctx.timeout themselves, because only
        # they know where they stalled. The run's deadline may cut it shorter.
        limit = ctx.timeout + BACKSTOP_GRACE
        remaining = self._remaining()
        cut_by_deadline = remaining is not None and remaining < limit
        if remaining is not None:
            limit = min(limit, remaining)
        try:
            async with asyncio.timeout(limit):
                result, out = await p.run(ctx, conn)
        except TimeoutError:
            detail = (f"stopped by the run's deadline of {self.options.deadline:g} s"
                      if cut_by_deadline else f"no answer within {ctx.timeout:g} s")
            result, out = outcome(name, p.timeout_code, detail), None
        return replace(result, duration_ms=_ms(t0)), out


# -- where the run happened ---------------------------------------------------

def host_info(options: ProbeOptions, proxy: str | None) -> HostInfo:
    from netcheck.probes import dns

    if options.resolvers:
        resolvers = tuple(dns.format_resolver(h, p) for h, p in options.resolvers)
    else:
        resolvers = tuple(dns.system_resolvers())
    return HostInfo(
        hostname=socket.gethostname(),
        platform=platform.platform(),
        python=platform.python_version(),
        resolvers=resolvers,
        proxy=proxy,
    )


async def run_catalog(catalog: Catalog, options: RunOptions,
                      on_event: EventSink | None = None) -> RunReport:
    """Convenience for tests and library users: run and return the report."""
    return await Run(catalog, options, on_event).execute()
