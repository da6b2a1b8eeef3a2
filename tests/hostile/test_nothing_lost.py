"""Nothing lost: interrupted runs write what finished and close their
connections; concurrent runs never clobber each other's reports or history;
a full or read-only output folder is a clear error with the summary printed.

tests/lab/test_cli.py has the basic signal test (exit code, partial JSON);
these add what the server sees, every format, and concurrency and disks."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hostilekit import ServerThread

from netcheck.catalog import parse_catalog
from netcheck.lab.dns_server import LabDnsServer, ZoneEntry
from netcheck.lab.pki import LabPki
from netcheck.lab.tcp_servers import SilentServer
from netcheck.lab.tls_servers import TlsServer
from netcheck.output import write_new
from netcheck.probes.base import ProbeOptions
from netcheck.reportschema import validate_report
from netcheck.runner import Run, RunOptions

NETCHECK = str(Path(sys.executable).parent / "netcheck")
DOMAIN = "lab.netcheck.test"
SILENT = ("silent-a", "silent-b", "silent-c")


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class Site:
    """A quick endpoint and three whose TLS handshakes hang, behind a lab DNS."""

    def __init__(self, pki: LabPki, servers: ServerThread, tmp: Path) -> None:
        self.quick = servers.start(TlsServer, pki.server_context(f"quick.{DOMAIN}"))
        self.silent = servers.start(SilentServer)
        names = ["quick", *SILENT]
        self.dns = servers.start(LabDnsServer, {f"{n}.{DOMAIN}": ZoneEntry(a=("127.0.0.1",))
                                                for n in names})
        lines = ["version: 1", "endpoints:"]
        for n in names:
            port = self.quick.port if n == "quick" else self.silent.port
            lines += [f"  - name: {n}", f"    host: {n}.{DOMAIN}", f"    port: {port}",
                      "    probe: tls", "    expected_ips: [127.0.0.1]"]
        self.text = "\n".join(lines) + "\n"
        self.catalog = tmp / "site.yaml"
        self.catalog.write_text(self.text)
        self.ca_bundle = pki.ca_bundle

    def args(self, *extra: str) -> list[str]:
        return [NETCHECK, "run", "--catalog", str(self.catalog), "--resolver",
                self.dns.address, "--ca-bundle", str(self.ca_bundle), "--no-proxy", *extra]


@pytest.fixture
def site(pki: LabPki, threaded: ServerThread, tmp_path: Path) -> Site:
    return Site(pki, threaded, tmp_path)


# -- interruption -------------------------------------------------------------------

async def test_cancelled_run_closes_every_connection_and_reports_what_finished(
        site: Site) -> None:
    # Given a run whose three silent targets hold connections open (30 s timeout)
    options = RunOptions(probe=ProbeOptions(timeout=30, ca_bundle=site.ca_bundle,
                                            resolvers=(site.dns.resolver,)))
    run = Run(parse_catalog(site.text, "site.yaml"), options)
    task = asyncio.ensure_future(run.execute())
    loop = asyncio.get_running_loop()
    # (and the quick one finished: handshake done, connection closed, recorded)
    assert await loop.run_in_executor(None, wait_for, lambda: (
        site.silent.open_connections == 3 and site.quick.handshakes == 1
        and site.quick.open_connections == 0))
    await asyncio.sleep(0.3)
    # When it is cancelled, as the CLI's SIGINT/SIGTERM handler does
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Then, while this process lives on, the server sees every connection closed
    assert await loop.run_in_executor(None, wait_for,
                                      lambda: site.silent.open_connections == 0, 2.0)
    assert site.silent.accepted == 3
    # And the report has what finished, marked interrupted
    report = run.report()
    assert report.interrupted is True
    assert [e.name for e in report.endpoints] == ["quick"]
    assert report.endpoints[0].status == "pass"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_writes_every_format_closes_connections_and_prints_the_summary(
        site: Site, tmp_path: Path, sig: int, code: int) -> None:
    # Given a run writing several formats, with three targets hanging in TLS
    out = tmp_path / "reports"
    proc = subprocess.Popen(site.args("--timeout", "30", "--format", "console,json,html,csv",
                                      "--output-dir", str(out)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # (and the quick one finished: its handshake done, its connection closed)
        assert wait_for(lambda: site.silent.open_connections == 3 and site.quick.handshakes == 1
                        and site.quick.open_connections == 0), "targets never connected"
        time.sleep(0.3)
        # When it is interrupted
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # Then it exits 130/143, the console summary is printed
    assert proc.returncode == code, stderr
    assert "quick" in stdout
    assert "Traceback" not in stderr
    # And every format holds what finished, the JSON marked interrupted
    files = {p.suffix: p for p in out.iterdir() if p.name != "history.jsonl"}
    assert set(files) == {".json", ".html", ".csv"}, files
    doc = json.loads(files[".json"].read_text())
    assert doc["interrupted"] is True
    assert [e["name"] for e in doc["endpoints"]] == ["quick"]
    assert validate_report(doc) == []
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp file left
    # And the server saw its connections closed
    assert wait_for(lambda: site.silent.open_connections == 0, 2.0)


# -- concurrent runs -------------------------------------------------------------------

def test_concurrent_runs_into_one_folder_never_clobber(site: Site, tmp_path: Path) -> None:
    # Given four runs of the quick endpoint started at once into one folder
    out = tmp_path / "reports"
    procs = [subprocess.Popen(site.args("--only", "quick", "--format", "json,csv,html",
                                        "--output-dir", str(out), "-q"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [p.communicate(timeout=60) for p in procs]
    # Then each passed and wrote its own three files: twelve, none overwritten
    assert [p.returncode for p in procs] == [0, 0, 0, 0], results[0]
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("history"))
    assert len(names) == 12, names
    started = set()
    for report in out.glob("*.json"):
        doc = json.loads(report.read_text())
        assert validate_report(doc) == []
        started.add((doc["started_at"], doc["duration_ms"]))
    assert len(started) == 4  # four different runs, not one written four times
    assert not [n for n in os.listdir(out) if n.startswith(".")]
    # And a history, if the CLI keeps one, is valid line by line
    history = out / "history.jsonl"
    if history.exists():
        lines = history.read_text().splitlines()
        assert len(lines) == 4
        assert all(isinstance(json.loads(line), dict) for line in lines)


def test_write_new_from_many_threads_gives_every_writer_its_own_file(tmp_path: Path) -> None:
    # Given twenty writers racing for one name
    barrier = threading.Barrier(20)
    written: list[Path] = []

    def write(i: int) -> None:
        barrier.wait()
        written.append(write_new(tmp_path, "netcheck-20261204T100000Z", ".json",
                                 json.dumps({"writer": i}).encode()))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then twenty distinct files, each holding its own writer's data
    assert len(set(written)) == 20
    assert sorted(json.loads(p.read_text())["writer"] for p in written) == list(range(20))
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in written)


# One process appending history lines (run with -c, so the child imports
# nothing from the test folders).
_APPEND = """
import sys
from pathlib import Path
from netcheck import diagnosis, history
from netcheck.model import CatalogInfo, HostInfo, RunReport

report = RunReport(
    tool_version="0.1.0", started_at="2026-12-04T10:00:00.000Z",
    finished_at="2026-12-04T10:00:01.000Z", duration_ms=1.0, interrupted=False,
    host=HostInfo("h", "p", "3.11", ("127.0.0.1:53",), None),
    catalog=CatalogInfo("x.yaml", "0" * 64, 0), options={"targets": "both"},
    summary=diagnosis.summarize(()), endpoints=())
for _ in range(int(sys.argv[2])):
    history.append(report, Path(sys.argv[1]))
"""


def test_concurrent_history_appends_stay_valid_line_by_line(tmp_path: Path) -> None:
    # Given four processes appending 25 history lines each to one history file
    procs = [subprocess.Popen([sys.executable, "-c", _APPEND, str(tmp_path / "reports"), "25"],
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    # Then the file holds exactly 100 lines, each a whole JSON entry
    lines = (tmp_path / "reports" / "history.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert len(lines[:-1]) == 100
    assert all(isinstance(json.loads(line), dict) for line in lines[:-1])


# -- full and read-only disks -------------------------------------------------------------

def _in_mount_namespace(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``sh -c script`` in a private mount namespace (root and unshare)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to mount a tiny tmpfs in a private namespace")
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_full_disk_after_probing_exits_3_with_the_summary(site: Site, tmp_path: Path) -> None:
    # Given an output folder on a 16 KiB tmpfs: an empty file fits (the
    # pre-probe check passes), the HTML report does not
    folder = tmp_path / "tiny"
    folder.mkdir()
    cmd = [*site.args("--only", "quick", "--format", "console,json,html",
                      "--output-dir", str(folder))]
    # When netcheck runs inside that namespace
    result = _in_mount_namespace('mount -t tmpfs -o size=16k tmpfs "$1" && shift && exec "$@"',
                                 str(folder), *cmd)
    # Then the probing happened, the summary was printed, and the failed
    # write is one clear line and exit 3
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "quick" in result.stdout
    assert site.quick.accepted == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith("netcheck: ")]
    assert problems and all("No space left on device" in line for line in problems), \
        result.stderr
    assert "Traceback" not in result.stderr
    # (the tmpfs vanished with its namespace: nothing half-written is left here)
    assert list(folder.iterdir()) == []


def test_read_only_output_folder_exits_2_before_probing(site: Site, tmp_path: Path) -> None:
    # Given an output folder on a read-only mount
    folder = tmp_path / "ro"
    folder.mkdir()
    cmd = site.args("--only", "quick", "--format", "json", "--output-dir", str(folder))
    # When netcheck runs
    result = _in_mount_namespace(
        'mount -t tmpfs tmpfs "$1" && mount -o remount,ro "$1" && shift && exec "$@"',
        str(folder), *cmd)
    # Then it stops before probing, one line naming the folder, exit 2
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.strip() == (f"netcheck: cannot write to output folder {folder}: "
                                     "Read-only file system")
    assert site.quick.accepted == 0
