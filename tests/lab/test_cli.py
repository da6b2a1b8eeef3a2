"""The installed ``netcheck`` command, run as a subprocess against the lab:
exit codes, where output goes, files written, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netcheck.lab import SCENARIOS, Lab
from netcheck.reportschema import validate_report

NETCHECK = str(Path(sys.executable).parent / "netcheck")
LAB_EXAMPLE = str(Path(__file__).parent.parent / "catalog" / "lab-example.yaml")


def netcheck(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
             cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NETCHECK, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd, check=False)


def lab_args(lab: Lab, *only: str) -> list[str]:
    args = ["--catalog", str(lab.catalog_path), "--resolver", lab.resolver_arg,
            "--ca-bundle", str(lab.ca_bundle)]
    for name in only:
        args += ["--only", name]
    return args


def test_help_and_no_command() -> None:
    assert netcheck("--help").returncode == 0
    result = netcheck()
    assert result.returncode == 2
    assert "COMMAND" in result.stderr


def test_validate_builtin_and_invalid(tmp_path: Path) -> None:
    ok = netcheck("validate")
    assert ok.returncode == 0, ok.stderr
    assert "OK, 17 endpoints" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nendpoints:\n  - name: x\n    host: a.example\n"
                   "    port: 70000\n    probe: wss\n")
    result = netcheck("validate", str(bad))
    assert result.returncode == 2
    assert "endpoints[0].port: 70000 is not a port (1-65535)" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_json_to_stdout_sends_console_to_stderr(lab: Lab) -> None:
    # When a passing selection runs with the JSON report on stdout
    result = netcheck("run", *lab_args(lab, "ws-ok", "https-ok"), "--format", "json",
                      "--output", "-")
    # Then it exits 0, stdout is only the report, and the human summary is on stderr
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert validate_report(doc) == []
    assert [e["name"] for e in doc["endpoints"]] == ["ws-ok", "https-ok"]
    assert doc["summary"]["status"] == "pass"
    assert "ws-ok" in result.stderr


def test_failure_exits_1_and_warning_needs_strict(lab: Lab) -> None:
    failing = netcheck("run", *lab_args(lab, "tcp-refused"), "-q")
    assert failing.returncode == 1
    assert netcheck("run", *lab_args(lab, "dns-unexpected"), "-q").returncode == 0
    assert netcheck("run", *lab_args(lab, "dns-unexpected"), "-q", "--strict").returncode == 1
    # A non-required endpoint failing does not fail the run
    assert netcheck("run", *lab_args(lab, "optional-refused"), "-q").returncode == 0


def test_several_formats_go_to_output_dir_without_collisions(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    args = ["run", *lab_args(lab, "ws-ok"), "--format", "json,markdown,csv",
            "--output-dir", str(out), "-q"]
    first, second = netcheck(*args), netcheck(*args)
    assert first.returncode == second.returncode == 0, first.stderr
    names = sorted(p.name for p in out.iterdir() if p.name != "history.jsonl")
    assert len(names) == 6, names
    assert len((out / "history.jsonl").read_text().splitlines()) == 2
    assert {Path(n).suffix for n in names} == {".json", ".md", ".csv"}
    assert all(n.startswith("netcheck-") for n in names)
    assert not any(n.startswith(".") for n in names)  # no temporary file left


def test_default_output_dir_is_reports(lab: Lab, tmp_path: Path) -> None:
    result = netcheck("run", *lab_args(lab, "ws-ok"), "--format", "json", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (report,) = (tmp_path / "reports").glob("netcheck-*.json")
    assert json.loads(report.read_text())["endpoints"][0]["name"] == "ws-ok"


@pytest.mark.parametrize(("args", "message"), [
    (["--resolver", "not-an-ip"], "is not a resolver address"),
    (["--resolver", "127.0.0.1:99999"], "is not a port"),
    (["--format", "pdf"], "unknown format 'pdf'"),
    (["--ca-bundle", "/nonexistent/ca.pem"], "--ca-bundle /nonexistent/ca.pem: no such file"),
    (["--proxy", "not a url"], "--proxy:"),
    (["--timeout", "-1"], "must be between 0 and 3600"),
    (["--concurrency", "0"], "must be at least 1"),
    (["--only", "no-such-endpoint"], "no-such-endpoint"),
    (["--format", "json,csv", "--output", "x.json"], "--output takes one format"),
])
def test_usage_errors_are_one_line_exit_2(args: list[str], message: str) -> None:
    # Given a mistake on the command line; nothing is probed (the built-in
    # catalogue is never reached: every case fails before probing)
    result = netcheck("run", "--catalog", LAB_EXAMPLE, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_output_dir_is_found_before_probing(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    start = time.monotonic()
    result = netcheck("run", "--catalog", LAB_EXAMPLE,
                      "--format", "json", "--output-dir", str(blocker / "sub"))
    assert result.returncode == 2
    assert "cannot write to output folder" in result.stderr
    assert time.monotonic() - start < 10


def test_report_rerenders_a_saved_run(lab: Lab, tmp_path: Path) -> None:
    saved = tmp_path / "saved.json"
    run = netcheck("run", *lab_args(lab, "tcp-refused"), "--format", "json",
                   "--output", str(saved), "-q")
    assert run.returncode == 1
    md = netcheck("report", str(saved), "--format", "markdown")
    assert md.returncode == 0, md.stderr
    assert "tcp-refused" in md.stdout
    html_path = tmp_path / "saved.html"
    assert netcheck("report", str(saved), "--format", "html", "--output",
                    str(html_path)).returncode == 0
    assert "<html" in html_path.read_text().lower()
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    bad = netcheck("report", str(broken), "--format", "markdown")
    assert bad.returncode == 2 and "invalid JSON at line 1" in bad.stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_writes_partial_report(lab: Lab, tmp_path: Path, sig: int, code: int) -> None:
    # Given a run with one quick endpoint and one that hangs for a long time
    out = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [NETCHECK, "run", *lab_args(lab, "ws-ok", "tls-silent"), "--timeout", "30",
         "--format", "json", "--output", str(out), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    # When it is interrupted
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=20)
    # Then it exits 130/143 and the report of what finished is written, marked
    assert proc.returncode == code, stderr
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True
    assert [e["name"] for e in doc["endpoints"]] == ["ws-ok"]
    assert validate_report(doc) == []


def test_demo_runs_the_live_pipeline() -> None:
    # When the demo runs (it starts its own lab: nothing stored is replayed)
    result = netcheck("demo", "--format", "json", "--output", "-", timeout=120)
    # Then every lab verdict is reached and the run was live
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [e["name"] for e in doc["endpoints"]] == [s.name for s in SCENARIOS]
    assert "all 32 lab verdicts" in result.stderr
    dropped = next(e for e in doc["endpoints"] if e["name"] == "tcp-dropped")
    assert dropped["targets"][0]["phases"][0]["duration_ms"] >= 1000
    ports = {e["port"] for e in doc["endpoints"]}
    assert len(ports) > 20  # fresh servers on fresh ports


def test_bad_push_gateway_is_refused_before_probing() -> None:
    result = netcheck("run", "--catalog", LAB_EXAMPLE, "--push-gateway", "ftp://x")
    assert result.returncode == 2
    assert "--push-gateway 'ftp://x': expected http(s)://HOST[:PORT]" in result.stderr


def test_list_keeps_names_whole_in_a_pipe() -> None:
    result = netcheck("list", "--tag", "region-uk")
    assert result.returncode == 0
    assert "webclient-uk3.moviuscorp.net" in result.stdout
    assert "169.50.222.162" in result.stdout
