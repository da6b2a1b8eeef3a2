"""Two (three) runs of the installed ``netcheck run`` against the lab with a
network condition changed between them: ``netcheck diff`` says what changed,
and (with ``netcheck run`` wired to netcheck.history) each run's report says
it under ``since_last_run`` and the history holds one line per run.

The lab's servers are fixed for its lifetime, so the test brings a TLS server
of its own and changes the network under an unchanged catalogue (whose sha256
must stay the same for since_last_run to match): run 1 passes; the server
stops, so its port refuses; run 2 fails with tcp.refused; the server comes
back on the same port with a freshly issued certificate; run 3 recovers.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from netcheck.lab import DOMAIN, Lab
from netcheck.lab.tls_servers import TlsServer, scenario_context
from netcheck.reportschema import validate_report

NETCHECK = str(Path(sys.executable).parent / "netcheck")
HOST = f"ws-ok.{DOMAIN}"  # a lab name the lab's DNS answers with 127.0.0.1
T = TypeVar("T")


def netcheck(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NETCHECK, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200"}, check=False)


class Loop:
    """An event loop in a thread of its own, for the test's own server."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def loop() -> Iterator[Loop]:
    running = Loop()
    yield running
    running.close()


class Switchable:
    """A TLS server for HOST that the test turns off and on at one port."""

    def __init__(self, lab: Lab, loop: Loop) -> None:
        self.lab, self.loop = lab, loop
        self.server: TlsServer | None = None
        self.port = 0

    def on(self) -> None:
        # A fresh certificate each time (new key, same vendor CA): a renewal.
        self.server = TlsServer(scenario_context(self.lab.pki, "good", HOST), port=self.port)
        self.loop.call(self.server.start())
        self.port = self.server.port

    def off(self) -> None:
        if self.server is not None:
            self.loop.call(self.server.stop())
            self.server = None


@pytest.fixture
def server(lab: Lab, loop: Loop) -> Iterator[Switchable]:
    s = Switchable(lab, loop)
    s.on()
    yield s
    s.off()


def write_catalog(path: Path, port: int) -> Path:
    path.write_text(
        "version: 1\n"
        "defaults:\n  timeout: 1\n"
        "endpoints:\n"
        f"  - name: mine\n    host: {HOST}\n    port: {port}\n    probe: tls\n"
        "    expected_ips: [127.0.0.1]\n    purpose: the test's own switchable TLS server\n",
        encoding="utf-8")
    return path


class Runs:
    """``netcheck run`` with one catalogue and output folder; returns each
    run's exit code and its JSON report (the file the run wrote)."""

    def __init__(self, lab: Lab, catalog: Path, out: Path) -> None:
        self.args = ["--catalog", str(catalog), "--resolver", lab.resolver_arg,
                     "--ca-bundle", str(lab.ca_bundle), "--no-proxy",
                     "--format", "json", "--output-dir", str(out), "-q"]
        self.out = out
        self.reports: list[Path] = []

    def run(self, *extra: str) -> tuple[int, dict[str, Any]]:
        before = set(self.out.glob("netcheck-*.json"))
        result = netcheck("run", *self.args, *extra)
        assert result.returncode in (0, 1), result.stderr
        (new,) = set(self.out.glob("netcheck-*.json")) - before
        self.reports.append(new)
        doc: dict[str, Any] = json.loads(new.read_text(encoding="utf-8"))
        assert validate_report(doc) == []
        return result.returncode, doc


@pytest.fixture
def runs(lab: Lab, server: Switchable, tmp_path: Path) -> Runs:
    return Runs(lab, write_catalog(tmp_path / "mine.yaml", server.port), tmp_path / "out")


def status_of(doc: dict[str, Any]) -> tuple[str, set[str]]:
    (ep,) = doc["endpoints"]
    found = {p["code"] for t in ep["targets"] for p in t["phases"]}
    return ep["status"], found


def test_netcheck_diff_between_runs_with_the_network_changed(
        runs: Runs, server: Switchable) -> None:
    # Given a first run while the server answers
    code1, doc1 = runs.run()
    assert (code1, status_of(doc1)[0]) == (0, "pass")
    # When the server goes away (its port now refuses) and a second run fails
    server.off()
    code2, doc2 = runs.run()
    assert code2 == 1 and status_of(doc2) == ("fail", {"tcp.refused", "skipped"})
    # Then netcheck diff names the endpoint, the address and the new code, and exits 1
    worse = netcheck("diff", str(runs.reports[0]), str(runs.reports[1]))
    assert worse.returncode == 1, worse.stderr
    assert "newly failing: mine (pass -> fail): tcp.refused" in worse.stdout
    assert "127.0.0.1: pass -> fail: tcp.refused" in worse.stdout
    # When the server comes back with a renewed certificate
    server.on()
    code3, doc3 = runs.run()
    assert (code3, status_of(doc3)[0]) == (0, "pass")
    # Then 2 -> 3 is a recovery (exit 0) ...
    better = netcheck("diff", str(runs.reports[1]), str(runs.reports[2]), "--format", "json")
    assert better.returncode == 0, better.stderr
    changes = json.loads(better.stdout)
    assert [c["endpoint"] for c in changes["recovered"]] == ["mine"]
    # ... and 1 -> 3 shows the renewal: new fingerprint, same issuer, not a regression
    renewal = json.loads(netcheck("diff", str(runs.reports[0]), str(runs.reports[2]),
                                  "--format", "json").stdout)
    (cert,) = renewal["cert_changed"]
    assert cert["issuer_changed"] is False and cert["old_sha256"] != cert["new_sha256"]
    tls1 = next(p for p in doc1["endpoints"][0]["targets"][0]["phases"] if p["phase"] == "tls")
    assert cert["old_sha256"] == tls1["data"]["sha256"]
    assert renewal["regressions"] is False


def test_each_run_reports_since_last_run_and_appends_history(
        runs: Runs, server: Switchable) -> None:
    # Given a first run: nothing to compare with yet
    _, doc1 = runs.run()
    assert doc1["since_last_run"] is None
    # When the port refuses for the second run
    server.off()
    _, doc2 = runs.run()
    # Then its report says what broke since the first
    since = doc2["since_last_run"]
    assert since["regressions"] is True
    assert since["compared_with"]["started_at"] == doc1["started_at"]
    (broke,) = since["newly_failing"]
    assert (broke["endpoint"], broke["old"], broke["new"], broke["codes"]) == (
        "mine", "pass", "fail", ["tcp.refused"])
    # And the third, after the server is back, says it recovered
    server.on()
    _, doc3 = runs.run()
    assert [c["endpoint"] for c in doc3["since_last_run"]["recovered"]] == ["mine"]
    assert doc3["since_last_run"]["regressions"] is False
    # And the history holds one line per run, shown by netcheck history
    lines = (runs.out / "history.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["summary"]["status"] for line in lines] == ["pass", "fail", "pass"]
    shown = netcheck("history", "--dir", str(runs.out))
    assert shown.returncode == 0, shown.stderr
    assert doc2["started_at"] in shown.stdout


def test_no_history_neither_reads_nor_writes_it(runs: Runs, server: Switchable) -> None:
    runs.run()
    server.off()
    _, doc = runs.run("--no-history")
    assert doc["since_last_run"] is None
    assert len((runs.out / "history.jsonl").read_text().splitlines()) == 1


def test_sigterm_during_a_run_leaves_a_consistent_history(
        lab: Lab, runs: Runs) -> None:
    # Given a history with one complete run
    runs.run()
    # When a run with an endpoint that never answers is stopped by SIGTERM
    proc = subprocess.Popen(
        [NETCHECK, "run", "--catalog", str(lab.catalog_path), "--resolver", lab.resolver_arg,
         "--ca-bundle", str(lab.ca_bundle), "--only", "ws-ok,tls-silent", "--timeout", "30",
         "--format", "json", "--output-dir", str(runs.out), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 143, stderr
    # Then every line of the history is a whole entry, an interrupted one marked so
    lines = [json.loads(line) for line in
             (runs.out / "history.jsonl").read_text(encoding="utf-8").splitlines()]
    assert 1 <= len(lines) <= 2
    assert lines[0]["interrupted"] is False
    assert all(line["interrupted"] for line in lines[1:])
