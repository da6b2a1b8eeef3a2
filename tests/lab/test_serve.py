"""``netcheck serve`` as a real process against the lab, scraped over HTTP;
and the exporter's HTTP handling in-process over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import http.client
import itertools
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from netcheck import serve
from netcheck.catalog import load_catalog, select
from netcheck.lab import Lab
from netcheck.probes.base import ProbeOptions
from netcheck.reportschema import validate_report
from netcheck.runner import Run, RunOptions

NETCHECK = str(Path(sys.executable).parent / "netcheck")
RUN_LINE = re.compile(r"run (?P<status>\w+): .* started_at=(?P<start>\S+) finished_at=(?P<end>\S+)")
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(?P<port>\d+)/")

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


class Served:
    """A ``netcheck serve`` subprocess whose log lines are collected as they come."""

    def __init__(self, lab: Lab, *args: str, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            [NETCHECK, "serve", "--listen", "127.0.0.1:0", "--no-proxy",
             "--catalog", str(lab.catalog_path), "--resolver", lab.resolver_arg,
             "--ca-bundle", str(lab.ca_bundle), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = int(self.wait_for(LISTENING)[0]["port"])

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: re.Pattern[str], count: int = 1,
                 timeout: float = 10) -> list[re.Match[str]]:
        """The first ``count`` log lines matching ``pattern``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m for m in map(pattern.search, self.lines) if m]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"{pattern.pattern!r} x{count} not logged; "
                                         f"log so far:\n{''.join(self.lines)}")
                self._changed.wait(left)

    def get(self, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        return fetch(self.port, path, method)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=5)
            assert self.proc.stderr is not None
            self.proc.stderr.close()

    @property
    def log(self) -> str:
        with self._changed:
            return "".join(self.lines)


def fetch(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def lbl(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes, half-close, and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def served(lab: Lab) -> Iterator[Served]:
    """serve on a passing and a failing endpoint, a run every second; its
    first run has finished when the fixture yields."""
    s = Served(lab, "--interval", "1", "--timeout", "1", "--only", "ws-ok,tcp-refused")
    try:
        s.wait_for(RUN_LINE)
        yield s
    finally:
        s.stop()


# -- the process ---------------------------------------------------------------

def test_metrics_has_the_last_run_and_the_exporter_state(served: Served) -> None:
    # Given serve has finished a run of ws-ok (passes) and tcp-refused (fails)
    # When /metrics is scraped
    status, headers, body = served.get("/metrics")
    # Then it is the Prometheus text format, every family documented and typed
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("netcheck_")
        assert family.documentation and family.type in ("gauge", "counter")
    m = samples(text)
    # and it carries the exporter's state
    assert m["netcheck_up"][()] == 1
    assert m["netcheck_runs_total"][lbl(status="fail")] >= 1
    assert m["netcheck_runs_total"][lbl(status="error")] == 0
    assert m["netcheck_last_success_timestamp_seconds"][()] == 0  # tcp-refused is required
    assert m["netcheck_schedule_interval_seconds"][()] == 1
    assert m["netcheck_run_duration_seconds"][()] > 0
    # and the last run's results, per endpoint and per code, zeros pre-initialised
    assert m["netcheck_endpoint_success"][lbl(endpoint="ws-ok", required="true")] == 1
    assert m["netcheck_endpoint_success"][lbl(endpoint="tcp-refused", required="true")] == 0
    by_code = m["netcheck_findings_by_code"]
    assert by_code[lbl(code="tcp.refused", severity="fail")] == 1
    assert by_code[lbl(code="tls.expiring_soon", severity="warn")] == 0
    assert m["netcheck_probe_success"][lbl(endpoint="ws-ok", target="127.0.0.1",
                                           phase="websocket")] == 1
    assert m["netcheck_phase_info"][lbl(endpoint="tcp-refused", target="127.0.0.1",
                                        phase="tcp", code="tcp.refused", status="fail")] == 1


def test_openmetrics_when_the_scraper_asks_for_it(served: Served) -> None:
    # Given a scraper that prefers OpenMetrics (as Prometheus does)
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    try:
        conn.request("GET", "/metrics", headers={"Accept": "application/openmetrics-text; "
                                                           "version=1.0.0"})
        resp = conn.getresponse()
        body = resp.read().decode()
    finally:
        conn.close()
    # Then the reply is OpenMetrics, ending in # EOF
    assert resp.getheader("Content-Type", "").startswith("application/openmetrics-text")
    assert body.endswith("# EOF\n")


def test_probe_runs_one_endpoint_now(served: Served) -> None:
    # When a passing endpoint is probed on demand
    status, _, body = served.get("/probe?endpoint=ws-ok")
    # Then the reply holds that run's metrics, for that endpoint only, success 1
    assert status == 200
    m = samples(body.decode())
    assert m["netcheck_endpoint_success"] == {lbl(endpoint="ws-ok", required="true"): 1}
    assert set(m["netcheck_endpoint_status"]) == {
        lbl(endpoint="ws-ok", status=s) for s in ("pass", "warn", "fail", "skip")}
    assert "netcheck_up" not in m  # the exporter's state is /metrics' business
    # and a failing one gives success 0 with its code
    m = samples(served.get("/probe?endpoint=tcp-refused")[2].decode())
    assert m["netcheck_endpoint_success"] == {lbl(endpoint="tcp-refused", required="true"): 0}
    assert m["netcheck_findings_by_code"][lbl(code="tcp.refused", severity="fail")] == 1
    # and the probes are counted on /metrics
    counted = samples(served.get("/metrics")[2].decode())["netcheck_probe_requests_total"]
    assert counted[lbl(result="ok")] >= 2


def test_probe_of_an_unknown_or_missing_endpoint_is_400_naming_the_known(
        served: Served) -> None:
    # When /probe names an endpoint outside the served selection, or none, or two
    for query, says in (("?endpoint=dns-nxdomain", "unknown endpoint 'dns-nxdomain'"),
                        ("", "no endpoint given"),
                        ("?endpoint=ws-ok&endpoint=tcp-refused", "give one endpoint")):
        status, _, body = served.get(f"/probe{query}")
        # Then it is 400 and the body says why and lists the known names
        assert status == 400
        assert says in body.decode()
        assert "known endpoints: ws-ok, tcp-refused" in body.decode()


def test_reports_health_index_and_errors(served: Served) -> None:
    # When the last report is asked for as JSON
    status, headers, body = served.get("/report.json")
    # Then it is a valid report of the served selection
    assert status == 200 and headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert validate_report(doc) == []
    assert [e["name"] for e in doc["endpoints"]] == ["ws-ok", "tcp-refused"]
    # and as HTML, a page naming the endpoints
    status, headers, body = served.get("/report.html")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"tcp-refused" in body
    # and /healthz, /, an unknown path and a POST answer as they should
    assert served.get("/healthz")[::2] == (200, b"ok\n")
    status, _, body = served.get("/")
    assert status == 200 and b'href="/probe?endpoint=ws-ok"' in body
    status, _, body = served.get("/nope")
    assert status == 404 and body == b"not found: /nope (see / for what is served)\n"
    answer = raw_exchange(served.port, b"GET /nope\x1b[31m HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ") and b"\x1b" not in answer
    assert answer.endswith(b"\r\n\r\nbad request: not an HTTP/1.1 request\n")
    status, headers, _ = served.get("/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    # and HEAD gives the length without the body
    status, headers, body = served.get("/report.json", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 100


def test_garbage_and_oversized_heads_are_refused_and_serving_goes_on(served: Served) -> None:
    # When a client sends bytes that are not HTTP
    answer = raw_exchange(served.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 30)
    # Then it gets a 400
    assert answer.startswith(b"HTTP/1.1 400 ")
    # When a client sends a request head larger than the bound
    answer = raw_exchange(served.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: "
                          + b"a" * (serve.MAX_HEAD_BYTES + 1000) + b"\r\n\r\n")
    # Then it gets a 431
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert answer.endswith(b"bad request: request head too large\n")
    # while a head just inside the bound is served
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
    answer = raw_exchange(served.port, head + b"a" * (serve.MAX_HEAD_BYTES - len(head) - 4)
                          + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")
    # When a client connects and leaves without a word / Then nothing is sent back
    assert raw_exchange(served.port, b"") == b""
    # and the server still answers, and did not crash
    assert served.get("/healthz")[0] == 200
    assert served.proc.poll() is None
    assert "Traceback" not in served.log


def test_runs_never_overlap_and_sigterm_mid_run_exits_0(lab: Lab, tmp_path: Path) -> None:
    # Given serve with runs slower than the interval (tls-silent waits out its
    # 0.5 s timeout; the interval is 0.2 s), recording history
    history = tmp_path / "history"
    s = Served(lab, "--interval", "0.2", "--timeout", "0.5", "--only", "tls-silent,ws-ok",
               "--history-dir", str(history), cwd=tmp_path)
    try:
        # Then before the first run has finished the reports are 503, saying so
        status, _, body = s.get("/report.json")
        assert status == 503 and b"no run has finished yet" in body
        assert samples(s.get("/metrics")[2].decode())["netcheck_up"][()] == 0
        # When three runs have finished
        runs = s.wait_for(RUN_LINE, count=3)
    finally:
        # and SIGTERM arrives while the fourth is under way (it starts at once)
        t0 = time.monotonic()
        code = s.stop(signal.SIGTERM)
        stopped_in = time.monotonic() - t0
    # Then each run started only after the previous one finished, at once
    # (a slow run delays the next; it does not stack, and none is skipped)
    times = [(parse(m["start"]), parse(m["end"])) for m in runs]
    for (_, end), (start, _) in itertools.pairwise(times):
        assert start >= end
        assert (start - end).total_seconds() < 0.2
    for start, end in times:
        assert (end - start).total_seconds() >= 0.5
    # and serve exits 0 within a few seconds, the run abandoned
    assert code == 0, s.log
    assert stopped_in < 3
    assert "run abandoned" in s.log
    assert "Traceback" not in s.log
    # and the history holds exactly the finished runs, each a whole line, the
    # abandoned run nowhere, and no stray temporary file anywhere
    lines = (history / "history.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""
    entries = [json.loads(line) for line in lines[:-1]]
    assert len(entries) == len(RUN_LINE.findall(s.log)) >= 3
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["history", "history.jsonl"]


def parse(timestamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(timestamp)


def test_sigint_exits_0_too(lab: Lab) -> None:
    # Given serve between runs / When it gets SIGINT / Then it exits 0
    s = Served(lab, "--interval", "60", "--only", "ws-ok")
    try:
        s.wait_for(RUN_LINE)
    finally:
        code = s.stop(signal.SIGINT)
    assert code == 0, s.log


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "json"], "serve: --format does not apply"),
    (["--output-dir", "x"], "serve: --output-dir does not apply"),
    (["--push-gateway", "http://127.0.0.1:9"], "serve: --push-gateway does not apply"),
    (["--no-history"], "--no-history does not apply"),
    (["--listen", "nonsense"], "'nonsense' is not HOST:PORT"),
    (["--listen", "::1:80"], "write an IPv6 address as [ADDRESS]:PORT"),
    (["--interval", "0"], "must be between 0 and 604800 seconds"),
])
def test_usage_errors_exit_2_in_one_line(args: list[str], message: str) -> None:
    result = subprocess.run([NETCHECK, "serve", *args], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_taken_port_is_a_usage_error(lab: Lab) -> None:
    # Given a loopback port already listened on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # When serve is asked to listen there
        result = subprocess.run(
            [NETCHECK, "serve", "--listen", f"127.0.0.1:{port}", "--catalog",
             str(lab.catalog_path), "--only", "ws-ok"],
            capture_output=True, text=True, timeout=30, check=False)
    # Then it exits 2 saying why
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


# -- in-process, over real loopback sockets ------------------------------------

def exporter(lab: Lab, *only: str, probe_limit: int = 4) -> serve.Exporter:
    catalog = select(load_catalog(lab.catalog_path), list(only), [])
    options = RunOptions(probe=ProbeOptions(timeout=0.5, ca_bundle=lab.ca_bundle,
                                            resolvers=(lab.resolver,)))
    return serve.Exporter(catalog, options, interval=60, probe_limit=probe_limit)


@contextlib.asynccontextmanager
async def listening(exp: serve.Exporter) -> AsyncIterator[int]:
    server = await asyncio.start_server(exp.handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def request(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_slow_request_head_gets_408(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the exporter with a short bound on the request head's time
    monkeypatch.setattr(serve, "HEAD_TIMEOUT", 0.3)
    exp = exporter(lab, "ws-ok")
    async with listening(exp) as port:
        # When a client sends half a head and stalls (slowloris)
        t0 = time.monotonic()
        answer = await request(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        # Then the server answers 408 and closes, after the bound and not much later
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert 0.3 <= time.monotonic() - t0 < 2
        assert not exp._connections


async def test_probes_over_the_limit_get_429(lab: Lab) -> None:
    # Given the exporter allowing one on-demand probe at a time, and an
    # endpoint whose probe takes its whole 0.5 s timeout
    exp = exporter(lab, "tls-silent", probe_limit=1)
    async with listening(exp) as port:
        get = b"GET /probe?endpoint=tls-silent HTTP/1.1\r\nHost: x\r\n\r\n"
        # When two probes arrive together
        first = asyncio.ensure_future(request(port, get))
        await asyncio.sleep(0.1)
        second = await request(port, get)
        # Then the second is refused with 429 and Retry-After, the first completes
        assert second.startswith(b"HTTP/1.1 429 ")
        assert b"Retry-After: 1" in second
        assert (await first).startswith(b"HTTP/1.1 200 ")
    assert exp.probe_requests == {"ok": 1, "bad_request": 0, "rejected": 1}


async def test_a_crashing_run_sets_up_0_and_is_counted(
        lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a runner that raises (a bug; no socket can produce this, so the
    # runner is replaced), after one good run
    exp = exporter(lab, "ws-ok")
    assert await exp.run_once() is not None
    good = exp.last

    async def broken(self: Run) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Run, "execute", broken)
    # When the next scheduled run happens
    assert await exp.run_once() is None
    # Then netcheck_up is 0, the run is counted as an error, the last good
    # report is still served, and the exporter goes on
    m = samples(serve.exposition([exp], None).body.decode())
    assert m["netcheck_up"][()] == 0
    assert m["netcheck_runs_total"][lbl(status="error")] == 1
    assert m["netcheck_runs_total"][lbl(status="pass")] == 1
    assert m["netcheck_last_success_timestamp_seconds"][()] > 0
    assert exp.last is good


async def test_probe_names_the_dns_answer_outside_the_allow_list(lab: Lab) -> None:
    # Given the exporter serving an endpoint whose DNS returns an unpublished address
    exp = exporter(lab, "dns-unexpected")
    async with listening(exp) as port:
        # When it is probed on demand
        answer = await request(port, b"GET /probe?endpoint=dns-unexpected HTTP/1.1\r\n"
                                     b"Host: x\r\n\r\n")
    # Then the reply names that address and counts the code, with a warning verdict
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    m = samples(body.decode())
    report = await Run(exp.catalog, exp.options).execute()
    (unexpected,) = report.endpoints[0].dns.unexpected
    assert m["netcheck_dns_unexpected_address"] == {
        lbl(endpoint="dns-unexpected", address=unexpected): 1}
    assert m["netcheck_findings_by_code"][lbl(code="dns.unexpected_ip", severity="warn")] == 1
    assert m["netcheck_endpoint_success"][lbl(endpoint="dns-unexpected", required="true")] == 1
