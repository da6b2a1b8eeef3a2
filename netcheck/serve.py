"""``netcheck serve``: run the catalogue on a schedule and serve the results
over HTTP for Prometheus, like blackbox_exporter.

    scheduler ──Run(catalog).execute()──▶ last report ──▶ /metrics /report.json /report.html
    GET /probe?endpoint=NAME ──Run(one endpoint)──▶ that run's metrics in the reply

One asyncio loop does everything: the scheduler, the on-demand probes and the
HTTP server (h11, sans-I/O, over asyncio streams). The runner is asyncio
already, so a probe request simply awaits a run; the last report is read and
replaced on the same thread, so no lock is needed; and shutdown is one
cancellation. prometheus-client's own server (a thread per request, stdlib
http.server) was not used: it has no bound on how long a client may take to
send its request head, and a probe would need an event loop of its own there.

The schedule is fixed-rate without stacking: a run starts ``interval``
seconds after the previous one started, or as soon as it finishes when it
took longer. On SIGTERM or SIGINT the server stops accepting, a run in
progress is abandoned (its connections are closed by the runner; its partial
report is neither published nor recorded) and the process exits 0.

Metrics of /metrics, besides the last run's (netcheck.render.prometheus):

=============================================  ==================================
``netcheck_up``                                1 if the last scheduled run completed
``netcheck_last_success_timestamp_seconds``    end of the last run whose required
                                               endpoints all passed (0: none yet)
``netcheck_runs_total{status}``                completed runs by status, and
                                               ``error`` for runs that crashed
``netcheck_schedule_interval_seconds``         the ``--interval``
``netcheck_probe_requests_total{result}``      /probe requests: ok, bad_request, rejected
=============================================  ==================================
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import http
import ipaddress
import logging
import signal
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import h11
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from netcheck import cli, history, sanitize
from netcheck.catalog import Catalog, select
from netcheck.model import RunReport
from netcheck.render import prometheus
from netcheck.runner import Run, RunOptions

log = logging.getLogger("netcheck.serve")

DEFAULT_LISTEN = "127.0.0.1:9470"
DEFAULT_INTERVAL = 300.0
DEFAULT_PROBE_LIMIT = 4

# Slowloris bounds: the whole request head within HEAD_TIMEOUT seconds and
# MAX_HEAD_BYTES bytes; a reply written within WRITE_TIMEOUT; at most
# MAX_CONNECTIONS open at once (more are closed on accept).
HEAD_TIMEOUT = 5.0
MAX_HEAD_BYTES = 8 * 1024
WRITE_TIMEOUT = 10.0
MAX_CONNECTIONS = 64
SHUTDOWN_GRACE = 2.0
LINGER = 0.5
MAX_LINGER_BYTES = 256 * 1024

RUN_OUTCOMES = (*prometheus.STATUSES, "error")
PROBE_RESULTS = ("ok", "bad_request", "rejected")


# -- arguments -------------------------------------------------------------------

def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` (port 0: any free port, logged)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {host!r} is not an IPv6 address"
                                             ) from None
    elif ":" in host:
        raise argparse.ArgumentTypeError(f"{text!r}: write an IPv6 address as [ADDRESS]:PORT")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: {port_text!r} is not a port (0-65535)")
    return host, int(port_text)


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 7 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 604800 seconds")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    srv = parser.add_argument_group("serving")
    srv.add_argument("--listen", type=parse_listen, default=parse_listen(DEFAULT_LISTEN),
                     metavar="HOST:PORT",
                     help=f"address to serve HTTP on (default: {DEFAULT_LISTEN}, loopback only)")
    srv.add_argument("--interval", type=_interval, default=DEFAULT_INTERVAL, metavar="SECONDS",
                     help="start a run this often; a slow run delays the next one "
                          f"(default: {DEFAULT_INTERVAL:g})")
    srv.add_argument("--probe-concurrency", type=cli._positive_int,
                     default=DEFAULT_PROBE_LIMIT, metavar="N",
                     help="at most N on-demand /probe runs at once; more get 429 "
                          f"(default: {DEFAULT_PROBE_LIMIT})")
    srv.add_argument("--history-dir", type=Path, metavar="DIR",
                     help="append every scheduled run to DIR/history.jsonl, and compare "
                          "each with the last one there (since_last_run)")
    cli._add_run_options(parser)


# -- the exporter ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


def text_reply(status: int, text: str, *headers: tuple[str, str]) -> Reply:
    return Reply(status, (text.rstrip("\n") + "\n").encode("utf-8"), headers=headers)


class _Families:
    """A collector yielding fixed families (an on-demand probe's metrics)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def exposition(families: Iterable[object], accept: str | None) -> Reply:
    """Metric families as the scraper asked (text or OpenMetrics)."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in families:
        registry.register(collector)  # type: ignore[arg-type]
    encoder, content_type = choose_encoder(accept or "")
    return Reply(200, encoder(registry), content_type)


def report_families(report: RunReport) -> list[Metric]:
    return [*prometheus.registry(report).collect(), *prometheus.exporter_families(report)]


@dataclass(eq=False)  # identity-hashed: it is registered as a collector
class Exporter:
    catalog: Catalog
    options: RunOptions
    interval: float = DEFAULT_INTERVAL
    probe_limit: int = DEFAULT_PROBE_LIMIT
    strict: bool = False
    history_dir: Path | None = None

    last: RunReport | None = None
    up: int = 0
    last_success: float = 0.0
    runs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RUN_OUTCOMES, 0))
    probe_requests: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(PROBE_RESULTS, 0))
    _families: list[Metric] = field(default_factory=list)
    _rendered: dict[str, bytes] = field(default_factory=dict)
    _probes: int = 0
    _connections: set[asyncio.Task[Any]] = field(default_factory=set)

    # -- runs --------------------------------------------------------------------

    async def run_once(self) -> RunReport | None:
        """One scheduled run, published when it completes. Cancellation (shutdown)
        abandons it: nothing of a partial run is published or recorded."""
        try:
            report = await Run(self.catalog, self.options).execute()
        except asyncio.CancelledError:
            log.info("run abandoned: shutting down")
            raise
        except Exception as exc:  # a bug in a probe must not stop the exporter
            self.up = 0
            self.runs["error"] += 1
            log.error("run failed: internal error: %s: %s", type(exc).__name__, exc,
                      exc_info=log.isEnabledFor(logging.DEBUG))
            return None
        self.publish(report)
        return report

    def publish(self, report: RunReport) -> None:
        if self.history_dir is not None:
            # Compared before this run is appended, so it is not its own "last run".
            report = replace(report, since_last_run=history.since_last_run(report,
                                                                            self.history_dir))
        self.last = report
        self._families = report_families(report)
        self._rendered.clear()
        self.up = 1
        self.runs[report.summary.status] = self.runs.get(report.summary.status, 0) + 1
        succeeded = cli._verdict_exit(report, self.strict) == cli.EXIT_OK
        if succeeded:
            self.last_success = prometheus.unix_seconds(report.finished_at) or time.time()
        s = report.summary
        log.info("run %s: pass=%d warn=%d fail=%d skip=%d findings=%d duration=%.3fs "
                 "started_at=%s finished_at=%s", s.status, s.passed, s.warned, s.failed,
                 s.skipped, len(report.findings), report.duration_ms / 1000,
                 report.started_at, report.finished_at)
        if self.history_dir is not None:
            self._record(report)

    def _record(self, report: RunReport) -> None:
        assert self.history_dir is not None
        try:
            # One atomic append (netcheck.history): a crash or a SIGTERM cannot
            # leave half a line, and the signal handler only runs between
            # callbacks of the loop, so never in the middle of this call.
            history.append(report, self.history_dir)
        except history.HistoryError as exc:  # a full disk must not stop the exporter
            log.warning("%s", exc)

    async def schedule(self) -> None:
        """Run forever, never two runs at once: the next waits for this one."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self.run_once()
            await asyncio.sleep(max(0.0, started + self.interval - loop.time()))

    # -- metrics -----------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """The prometheus-client collector behind /metrics."""
        yield from self._families
        yield GaugeMetricFamily("netcheck_up", "1 if the last scheduled netcheck run "
                                "completed (whatever its verdict), 0 if none has yet or it "
                                "failed internally.", value=self.up)
        yield GaugeMetricFamily(
            "netcheck_last_success_timestamp_seconds",
            "When the last run whose required endpoints all passed finished, as Unix time "
            "(0: none since the exporter started).", value=self.last_success)
        runs = CounterMetricFamily("netcheck_runs", "Scheduled runs completed, by overall "
                                   "status; error counts runs that failed internally.",
                                   labels=["status"])
        for status, n in self.runs.items():
            runs.add_metric([status], n)
        yield runs
        yield GaugeMetricFamily("netcheck_schedule_interval_seconds",
                                "Seconds between the starts of scheduled runs.",
                                value=self.interval)
        probes = CounterMetricFamily("netcheck_probe_requests", "On-demand /probe requests "
                                     "by result (rejected: over the concurrency limit).",
                                     labels=["result"])
        for result, n in self.probe_requests.items():
            probes.add_metric([result], n)
        yield probes

    # -- HTTP --------------------------------------------------------------------

    async def route(self, method: str, target: str, accept: str | None) -> Reply:
        if method not in ("GET", "HEAD"):
            return text_reply(405, f"method {method} not allowed: use GET or HEAD",
                              ("Allow", "GET, HEAD"))
        parts = urllib.parse.urlsplit(target)
        path = parts.path
        if path == "/":
            return Reply(200, self.index().encode("utf-8"), "text/html; charset=utf-8")
        if path == "/healthz":
            return text_reply(200, "ok")
        if path == "/metrics":
            return exposition([self], accept)
        if path == "/probe":
            return await self.probe(parts.query, accept)
        if path in ("/report.json", "/report.html"):
            return self.report_reply(path.rsplit(".", 1)[1])
        return text_reply(404, f"not found: {sanitize.clean(path, 200)} "
                               "(see / for what is served)")

    def report_reply(self, fmt: str) -> Reply:
        if self.last is None:
            return text_reply(503, "no run has finished yet: the first report is on its "
                                   "way", ("Retry-After", "5"))
        body = self._rendered.get(fmt)
        if body is None:
            from netcheck.render import html as html_render
            from netcheck.render import json as json_render

            text = json_render.render(self.last) if fmt == "json" else html_render.render(
                self.last)
            body = self._rendered[fmt] = text.encode("utf-8")
        content_type = "application/json" if fmt == "json" else "text/html; charset=utf-8"
        return Reply(200, body, content_type)

    async def probe(self, query: str, accept: str | None) -> Reply:
        names = urllib.parse.parse_qs(query).get("endpoint", [])
        known = [e.name for e in self.catalog.endpoints]
        if len(names) != 1 or names[0] not in known:
            self.probe_requests["bad_request"] += 1
            asked = ("no endpoint given" if not names else "give one endpoint" if len(names) > 1
                     else f"unknown endpoint {sanitize.clean(names[0], 100)!r}")
            return text_reply(400, f"{asked}: use /probe?endpoint=NAME\n"
                                   f"known endpoints: {', '.join(known)}")
        if self._probes >= self.probe_limit:
            self.probe_requests["rejected"] += 1
            return text_reply(429, f"too many probes at once (at most {self.probe_limit}): "
                                   "try again shortly", ("Retry-After", "1"))
        self.probe_requests["ok"] += 1
        self._probes += 1
        try:
            report = await Run(select(self.catalog, [names[0]], []), self.options).execute()
        finally:
            self._probes -= 1
        return exposition([_Families(report_families(report))], accept)

    def index(self) -> str:
        links = "".join(
            f'<li><a href="/probe?endpoint={urllib.parse.quote(e.name)}">'
            f"{html.escape(e.name)}</a> {html.escape(e.host)}:{e.port}</li>"
            for e in self.catalog.endpoints)
        return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>netcheck</title>"
                "</head><body><h1>netcheck serve</h1><ul>"
                '<li><a href="/metrics">/metrics</a> the last run, as Prometheus metrics</li>'
                '<li><a href="/report.html">/report.html</a> and '
                '<a href="/report.json">/report.json</a> the last run\'s report</li>'
                '<li><a href="/healthz">/healthz</a></li></ul>'
                f"<h2>/probe?endpoint=NAME: one endpoint, now</h2><ul>{links}</ul>"
                "</body></html>\n")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: one request, one reply, then close."""
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            if len(self._connections) <= MAX_CONNECTIONS:
                await self._exchange(reader, writer)
        except (ConnectionError, TimeoutError, h11.ProtocolError):
            pass  # the client left, stalled, or spoke garbage after the head
        except Exception as exc:
            log.error("request failed: %s: %s", type(exc).__name__, exc,
                      exc_info=log.isEnabledFor(logging.DEBUG))
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _exchange(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        method = "GET"
        try:
            async with asyncio.timeout(HEAD_TIMEOUT):
                event = await _next_request(conn, reader)
        except TimeoutError:
            reply = text_reply(408, "request head not received in time")
        except h11.RemoteProtocolError as exc:
            # Not h11's message: it quotes the client's bytes back.
            why = ("request head too large" if exc.error_status_hint == 431
                   else "not an HTTP/1.1 request")
            await _send(conn, writer, text_reply(exc.error_status_hint, f"bad request: {why}"),
                        head_only=False)
            await _linger(reader)
            return
        else:
            if event is None:
                return  # closed before asking anything
            method = event.method.decode("ascii", "replace")
            headers = dict(event.headers)
            accept = headers.get(b"accept", b"").decode("latin-1")
            try:
                reply = await self.route(method, event.target.decode("ascii", "replace"),
                                         accept)
            except Exception as exc:
                log.error("%s %s failed: %s: %s", method, event.target, type(exc).__name__,
                          exc, exc_info=log.isEnabledFor(logging.DEBUG))
                reply = text_reply(500, f"internal error: {type(exc).__name__}")
            log.debug("%s %s -> %d", method, event.target, reply.status)
        await _send(conn, writer, reply, head_only=method == "HEAD")


async def _next_request(conn: h11.Connection, reader: asyncio.StreamReader
                        ) -> h11.Request | None:
    received = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            # Never more than the bound plus one byte in h11's buffer: a head
            # still incomplete then is too large (h11's own bound is checked
            # only between reads, so a head arriving whole could pass it).
            if received > MAX_HEAD_BYTES:
                raise h11.RemoteProtocolError("request head too large", 431)
            data = await reader.read(min(4096, MAX_HEAD_BYTES + 1 - received))
            received += len(data)
            conn.receive_data(data)
        elif isinstance(event, h11.Request):
            return event
        else:  # ConnectionClosed before a request
            return None


async def _linger(reader: asyncio.StreamReader) -> None:
    """Read and drop what the client is still sending, briefly: closing a
    socket with unread input makes the kernel send RST, which can destroy the
    error reply before the client has read it."""
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(LINGER):
            dropped = 0
            while dropped < MAX_LINGER_BYTES and (chunk := await reader.read(65536)):
                dropped += len(chunk)


async def _send(conn: h11.Connection, writer: asyncio.StreamWriter, reply: Reply,
                head_only: bool) -> None:
    headers = [("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body))),
               ("Cache-Control", "no-store"), ("Connection", "close"), *reply.headers]
    out = conn.send(h11.Response(status_code=reply.status, headers=headers,
                                 reason=http.HTTPStatus(reply.status).phrase.encode()))
    if not head_only and reply.body:
        out += conn.send(h11.Data(data=reply.body))
    out += conn.send(h11.EndOfMessage())
    async with asyncio.timeout(WRITE_TIMEOUT):
        writer.write(out)
        await writer.drain()


# -- the command ------------------------------------------------------------------

async def serve(exporter: Exporter, host: str, port: int) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code (0)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            server = await asyncio.start_server(exporter.handle, host, port)
        except OSError as exc:
            raise cli.UsageError(f"cannot listen on {host}:{port}: "
                                 f"{exc.strerror or exc}") from None
        for sock in server.sockets:
            bound = sock.getsockname()
            log.info("listening on http://%s/",
                     f"[{bound[0]}]:{bound[1]}" if ":" in bound[0] else f"{bound[0]}:{bound[1]}")
        scheduler = asyncio.create_task(exporter.schedule())
        await stop.wait()
        log.info("shutting down")
        server.close()
        scheduler.cancel()
        pending = [scheduler, *exporter._connections]
        for task in exporter._connections:
            task.cancel()
        await asyncio.wait(pending, timeout=SHUTDOWN_GRACE)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), SHUTDOWN_GRACE)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return cli.EXIT_OK


def main(args: argparse.Namespace) -> int:
    for option, value in (("--format", args.format), ("--output", args.output),
                          ("--output-dir", args.output_dir)):
        if value is not None:
            raise cli.UsageError(f"serve: {option} does not apply; the last run is served "
                                 "at /report.json, /report.html and /metrics")
    if args.push_gateway is not None:
        raise cli.UsageError("serve: --push-gateway does not apply; Prometheus scrapes "
                             "/metrics (use 'netcheck run --push-gateway' from cron)")
    if args.no_history:
        raise cli.UsageError("serve: history is off unless --history-dir is given; "
                             "--no-history does not apply")
    if args.history_dir is not None:
        from netcheck.output import OutputError, check_writable_dir

        try:
            check_writable_dir(args.history_dir)
        except OutputError as exc:
            raise cli.UsageError(f"--history-dir: {exc}") from None
    # Each run's line is what an operator reads in the journal: INFO unless -q.
    log.setLevel(logging.WARNING if args.quiet else
                 logging.DEBUG if args.verbose else logging.INFO)
    catalog = cli._load_catalog(args.catalog, args.only, args.tag)
    exporter = Exporter(catalog, cli._run_options(args), interval=args.interval,
                        probe_limit=args.probe_concurrency, strict=args.strict,
                        history_dir=args.history_dir)
    host, port = args.listen
    return asyncio.run(serve(exporter, host, port))
