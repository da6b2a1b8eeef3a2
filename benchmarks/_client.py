"""One measured client run, in a fresh process (pinned by bench.py to its own
core), printing one JSON line: CPU seconds of this process, wall seconds,
peak RSS, and what the targets ended in.

Modes:

* ``netcheck`` -- ``netcheck.runner.Run(catalog, options).execute()`` over a
  generated catalogue; CPU is ``time.process_time()`` around ``execute()``,
  nothing subtracted (the catalogue is built before, the probe modules are
  imported before: one-time costs, not per target).
* ``baseline`` -- the bare asyncio TLS handshake with verification:
  ``asyncio.open_connection(..., ssl=ctx)`` with one cached context, then
  close. No DNS, no HTTP, no websocket.
* ``naive`` -- the chain as one would write it in a hurry: dnspython's
  async resolver (the lab DNS), then ``websockets.asyncio.client.connect``
  with a cached context, ping/pong, close.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import resource
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

DOMAIN = "bench.lab.netcheck.test"


def host_name(i: int) -> str:
    return f"h{i}.{DOMAIN}"


def _peak_rss_kib() -> int:
    # VmHWM is this process's own high-water mark (ru_maxrss is the same on Linux).
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def build_catalog(args: argparse.Namespace) -> Any:
    from netcheck.catalog import Catalog, Endpoint

    endpoints = []
    drop_every = args.n // args.drops if args.drops else 0
    for i in range(args.n):
        # Drops are spread through the catalogue, as a firewall's gaps would be.
        dropped = bool(drop_every) and i % drop_every == 0 and i // drop_every < args.drops
        if dropped:
            host, port = f"drop{i // drop_every}.{DOMAIN}", args.drop_port
        else:
            host, port = host_name(i % args.hosts), args.port
        endpoints.append(Endpoint(
            name=f"e{i}", host=host, port=port, probe=args.probe,
            expected_ips=("127.0.0.1",), timeout=args.timeout))
    return Catalog(source="bench (generated)", sha256="0" * 64, endpoints=tuple(endpoints))


def _runner(loop_kind: str) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    if loop_kind == "uvloop":
        import uvloop

        return uvloop.run
    return asyncio.run


def run_netcheck(args: argparse.Namespace) -> dict[str, Any]:
    import importlib

    from netcheck.probes.base import ProbeOptions
    from netcheck.runner import _PROBE_MODULES, Run, RunOptions

    for module in (*_PROBE_MODULES.values(), "netcheck.probes.dns"):
        importlib.import_module(module)
    catalog = build_catalog(args)
    dns_host, dns_port = args.dns.rsplit(":", 1)
    options = RunOptions(
        probe=ProbeOptions(timeout=args.timeout, ca_bundle=Path(args.ca_bundle),
                           resolvers=((dns_host, int(dns_port)),)),
        concurrency=args.concurrency)
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    report = _runner(args.loop)(Run(catalog, options).execute())
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if profiler is not None:
        profiler.stop()
        Path(args.profile).write_text(profiler.output_text(unicode=False, color=False,
                                                           show_all=False))
    codes: collections.Counter[str] = collections.Counter()
    for ep in report.endpoints:
        for target in ep.targets:
            failed = [p.code for p in target.phases if p.status == "fail"]
            codes[failed[0] if failed else target.phases[-1].code] += 1
    # A DNS failure still probes the published 127.0.0.1, so the target codes
    # alone would hide it: the DNS outcome is reported and checked too.
    dns_codes = collections.Counter(ep.dns.code for ep in report.endpoints)
    return {"cpu_s": cpu, "wall_s": wall, "targets": sum(codes.values()),
            "codes": dict(codes), "dns_codes": dict(dns_codes),
            "dns_ms": sum(ep.dns.duration_ms for ep in report.endpoints)}


async def _bounded(n: int, concurrency: int, one: Callable[[int], Awaitable[str]]
                   ) -> collections.Counter[str]:
    slots = asyncio.Semaphore(concurrency)
    outcomes: collections.Counter[str] = collections.Counter()

    async def guarded(i: int) -> None:
        async with slots:
            try:
                outcomes[await one(i)] += 1
            except Exception as exc:  # a benchmark tallies failures, never hides them
                outcomes[type(exc).__name__] += 1

    await asyncio.gather(*(guarded(i) for i in range(n)))
    return outcomes


def run_baseline(args: argparse.Namespace) -> dict[str, Any]:
    ctx = ssl.create_default_context(cafile=args.ca_bundle)

    async def one(i: int) -> str:
        _, writer = await asyncio.open_connection(
            "127.0.0.1", args.port, ssl=ctx, server_hostname=host_name(i % args.hosts))
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return "ok"

    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcomes = _runner(args.loop)(_bounded(args.n, args.concurrency, one))
    return {"cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0,
            "targets": args.n, "codes": dict(outcomes)}


def run_naive(args: argparse.Namespace) -> dict[str, Any]:
    import dns.asyncresolver
    from websockets.asyncio.client import connect

    ctx = ssl.create_default_context(cafile=args.ca_bundle)
    dns_host, dns_port = args.dns.rsplit(":", 1)
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [dns_host]
    resolver.port = int(dns_port)

    async def one(i: int) -> str:
        name = host_name(i % args.hosts)
        answer = await resolver.resolve(name, "A", lifetime=args.timeout)
        ip = answer[0].address
        async with connect(f"wss://{name}:{args.port}/", host=ip, port=args.port, ssl=ctx,
                           server_hostname=name, open_timeout=args.timeout,
                           ping_interval=None, compression=None) as ws:
            pong = await ws.ping()
            await asyncio.wait_for(pong, args.timeout)
        return "ok"

    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcomes = _runner(args.loop)(_bounded(args.n, args.concurrency, one))
    return {"cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0,
            "targets": args.n, "codes": dict(outcomes)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("netcheck", "baseline", "naive"))
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--hosts", type=int, default=1, help="distinct host names")
    parser.add_argument("--probe", default="wss")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dns", default="127.0.0.1:53")
    parser.add_argument("--ca-bundle", default="")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--drops", type=int, default=0)
    parser.add_argument("--drop-port", type=int, default=9)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--profile", default="", help="write a pyinstrument profile here")
    args = parser.parse_args()
    _raise_fd_limit()
    run = {"netcheck": run_netcheck, "baseline": run_baseline, "naive": run_naive}[args.mode]
    result = run(args)
    result["peak_rss_kib"] = _peak_rss_kib()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
