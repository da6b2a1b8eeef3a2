"""The run history: the line a run appends, appends that neither a crash nor
concurrent runs corrupt, tolerant reading, since_last_run's choice of the run
to compare with, and ``netcheck history`` as a subprocess."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_diff import endpoint, good_target, refused_target, report_of

from netcheck import history

NETCHECK = str(Path(sys.executable).parent / "netcheck")


def lines_of(directory: Path) -> list[bytes]:
    return history.history_path(directory).read_bytes().splitlines(keepends=True)


# -- the line ---------------------------------------------------------------------

def test_entry_carries_what_a_comparison_needs_and_no_details() -> None:
    # Given a run with a passing and a refused endpoint
    report = report_of(endpoint("a"), endpoint("b", targets=[refused_target()]))
    # When its history line is made
    line = history.entry(report, run_id="r1")
    # Then it has the run's facts, the selection and per-endpoint snapshot
    assert line["run_id"] == "r1" and line["v"] == 1
    assert line["catalog"] == {"source": "cat.yaml", "sha256": "c" * 64}
    assert line["selection"] == {"endpoints": ["a", "b"], "targets": "both",
                                 "proxy": None, "resolvers": []}
    assert line["summary"] == {"status": "fail", "pass": 1, "warn": 0, "fail": 1, "skip": 0}
    assert line["endpoints"]["b"] == {
        "status": "fail", "codes": ["tcp.refused"],
        "dns": {"addresses": ["192.0.2.1"], "unexpected": [], "ms": 3.0},
        "targets": [{"ip": "192.0.2.1", "status": "fail", "codes": ["tcp.refused"],
                     "ms": {"tcp": 1.0}, "tls": None}]}
    assert line["endpoints"]["a"]["targets"][0]["tls"] == {
        "sha256": "a" * 64, "issuer": "CN=Vendor CA,O=Vendor"}
    # And no human wording (details, findings) goes in
    text = json.dumps(line)
    assert "detail" not in text and "refused\"" not in text.replace("tcp.refused\"", "")
    assert history.entry(report)["run_id"] != history.entry(report)["run_id"]


def test_append_then_read_round_trips_one_line_per_run(tmp_path: Path) -> None:
    # Given two runs appended to a folder that does not exist yet
    directory = tmp_path / "reports"
    history.append(report_of(endpoint()), directory, run_id="one")
    history.append(report_of(endpoint(targets=[refused_target()])), directory, run_id="two")
    # Then the file holds two compact lines and reads back in order
    raw = lines_of(directory)
    assert len(raw) == 2 and all(r.endswith(b"\n") for r in raw)
    assert all(b"\n" not in r[:-1] and b": " not in r for r in raw)
    assert [e["run_id"] for e in history.read(directory)] == ["one", "two"]
    assert [e["run_id"] for e in history.read(directory, last=1)] == ["two"]


def test_a_torn_last_line_is_skipped_with_a_warning_and_the_next_append_is_whole(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given a history whose last line a crash cut short (no newline)
    history.append(report_of(endpoint()), tmp_path, run_id="whole")
    path = history.history_path(tmp_path)
    full = json.dumps(history.entry(report_of(endpoint()), run_id="torn"))
    with path.open("ab") as f:
        f.write(full[: len(full) // 2].encode())
    # When it is read
    with caplog.at_level(logging.WARNING, logger="netcheck.history"):
        entries = history.read(tmp_path)
    # Then the whole line is returned and the torn one named in a warning
    assert [e["run_id"] for e in entries] == ["whole"]
    assert "line 2: torn (a run ended mid-write), skipped" in caplog.text
    # And the next run's line does not glue onto the torn one
    history.append(report_of(endpoint()), tmp_path, run_id="after")
    assert [e["run_id"] for e in history.read(tmp_path)] == ["whole", "after"]


def test_lines_that_are_not_entries_are_skipped(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    history.append(report_of(endpoint()), tmp_path, run_id="a")
    with history.history_path(tmp_path).open("ab") as f:
        f.write(b"garbage\n[1, 2]\n{\"v\": 99}\n\xff\xfe\n\n")
    history.append(report_of(endpoint()), tmp_path, run_id="b")
    with caplog.at_level(logging.WARNING, logger="netcheck.history"):
        assert [e["run_id"] for e in history.read(tmp_path)] == ["a", "b"]
    assert caplog.text.count("not a history entry") == 4


def test_missing_history_is_empty_unreadable_is_an_error(tmp_path: Path) -> None:
    assert history.read(tmp_path) == []
    # Given history.jsonl that is a folder (unreadable as a file)
    history.history_path(tmp_path).mkdir()
    with pytest.raises(history.HistoryError, match=r"cannot read run history .*history.jsonl"):
        history.read(tmp_path)
    # And append says why in one line
    with pytest.raises(history.HistoryError) as raised:
        history.append(report_of(endpoint()), tmp_path)
    assert "cannot write run history" in str(raised.value) and "\n" not in str(raised.value)


def test_append_into_a_path_that_is_a_file_raises_history_error(tmp_path: Path) -> None:
    blocker = tmp_path / "reports"
    blocker.write_text("not a folder")
    with pytest.raises(history.HistoryError, match="cannot write run history"):
        history.append(report_of(endpoint()), blocker)


def _append_many(directory: str, worker: int, count: int) -> None:
    report = report_of(*(endpoint(f"ep{i}") for i in range(20)))
    for n in range(count):
        history.append(report, Path(directory), run_id=f"w{worker}-{n}")


def test_concurrent_appends_from_several_processes_never_interleave(tmp_path: Path) -> None:
    # Given 4 processes appending 50 lines each (lines of ~8 KB, more than a
    # pipe's atomic size, so interleaving would show) at the same time
    ctx = multiprocessing.get_context("spawn")  # no fork of a threaded test runner
    procs = [ctx.Process(target=_append_many, args=(str(tmp_path), w, 50)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    # Then every line is one whole JSON entry, and none is missing
    raw = lines_of(tmp_path)
    assert len(raw) == 200
    assert len(raw[0]) > 4096
    ids = [json.loads(line)["run_id"] for line in raw]
    assert sorted(ids) == sorted(f"w{w}-{n}" for w in range(4) for n in range(50))


# -- since_last_run ------------------------------------------------------------------

def test_since_last_run_without_history_is_none(tmp_path: Path) -> None:
    assert history.since_last_run(report_of(endpoint()), tmp_path) is None


def test_since_last_run_compares_with_the_newest_run_of_same_catalogue_and_selection(
        tmp_path: Path) -> None:
    # Given: a matching old pass, a matching newer pass, then runs that do not match
    history.append(report_of(endpoint(), started_at="2026-01-01T00:00:00Z"), tmp_path, "old")
    history.append(report_of(endpoint(), started_at="2026-01-01T00:05:00Z"), tmp_path, "new")
    history.append(report_of(endpoint(), sha256="d" * 64), tmp_path, "other-catalogue")
    history.append(report_of(endpoint(), endpoint("extra")), tmp_path, "other-selection")
    history.append(report_of(endpoint(), options={"targets": "expected", "resolvers": [],
                                                  "proxy": None}), tmp_path, "other-targets")
    history.append(report_of(endpoint(), options={"targets": "both", "resolvers": [],
                                                  "proxy": "http://proxy:3128"}),
                   tmp_path, "via-proxy")
    history.append(report_of(endpoint(), interrupted=True), tmp_path, "interrupted")
    # When a run of the same catalogue and selection now fails
    since = history.since_last_run(report_of(endpoint(targets=[refused_target()])), tmp_path)
    # Then it is compared with "new"
    assert since is not None
    assert since["compared_with"] == {"run_id": "new", "started_at": "2026-01-01T00:05:00Z",
                                      "status": "pass"}
    assert since["regressions"] is True
    assert since["newly_failing"][0]["codes"] == ["tcp.refused"]


def test_options_outside_the_selection_do_not_prevent_a_match(tmp_path: Path) -> None:
    # Given a run with another timeout and resolver order
    history.append(report_of(endpoint(), options={
        "timeout": 5, "targets": "both", "proxy": None,
        "resolvers": ["10.0.0.2", "10.0.0.1"]}), tmp_path, "x")
    since = history.since_last_run(report_of(endpoint(), options={
        "timeout": 1, "targets": "both", "proxy": None,
        "resolvers": ["10.0.0.1", "10.0.0.2"]}), tmp_path)
    assert since is not None and since["compared_with"]["run_id"] == "x"


def test_since_last_run_reads_backwards_across_chunks(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a long history read in tiny chunks (so lines straddle chunk edges)
    monkeypatch.setattr(history, "_CHUNK", 37)
    for n in range(30):
        history.append(report_of(endpoint(), started_at=f"2026-01-01T00:{n:02d}:00Z"),
                       tmp_path, f"run{n}")
    history.append(report_of(endpoint(), sha256="d" * 64), tmp_path, "newest-other")
    # Then the newest matching one is found
    since = history.since_last_run(report_of(endpoint()), tmp_path)
    assert since is not None and since["compared_with"]["run_id"] == "run29"


def test_since_last_run_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    report = report_of(endpoint())
    # Given a history whose newest matching entry has the wrong shapes
    bad = history.entry(report, run_id="bad")
    bad["endpoints"] = {"api": {"status": "pass", "targets": [{"no-ip": 1}]}}
    (tmp_path / "history.jsonl").write_text(json.dumps(bad) + "\n")
    with caplog.at_level(logging.WARNING, logger="netcheck.history"):
        assert history.since_last_run(report, tmp_path) is None
    assert "malformed" in caplog.text
    # And a history that cannot be read at all
    other = tmp_path / "unreadable"
    history.history_path(other).mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="netcheck.history"):
        assert history.since_last_run(report, other) is None
    assert "since_last_run left empty" in caplog.text
    # And one whose only lines are garbage
    junk = tmp_path / "junk"
    junk.mkdir()
    history.history_path(junk).write_bytes(b"\x00\x01garbage\n{\"half\": ")
    assert history.since_last_run(report, junk) is None


def test_certificate_change_reaches_since_last_run(tmp_path: Path) -> None:
    history.append(report_of(endpoint()), tmp_path)
    since = history.since_last_run(
        report_of(endpoint(targets=[good_target(sha256="b" * 64)])), tmp_path)
    assert since is not None and since["regressions"] is False
    assert since["cert_changed"][0]["new_sha256"] == "b" * 64


def test_sparkline_scales_from_zero() -> None:
    assert history.sparkline([]) == ""
    assert history.sparkline([0, 0]) == "\u2581\u2581"
    assert history.sparkline([17, 12, 0, 17]) == "\u2588\u2586\u2581\u2588"
    assert history.sparkline([2, 4], history.SPARK_ASCII) == "=#"


# -- the command ----------------------------------------------------------------------

def netcheck(*args: str, encoding: str = "utf-8") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": encoding, "COLUMNS": "200"}
    return subprocess.run([NETCHECK, *args], capture_output=True, timeout=60, check=False,
                          env=env, encoding=encoding, errors="replace")


def _runs(directory: Path) -> None:
    passing = report_of(endpoint("a"), endpoint("b"), started_at="2026-01-01T00:00:00Z")
    failing = report_of(endpoint("a"), endpoint("b", targets=[refused_target()]),
                        started_at="2026-01-01T00:05:00Z")
    history.append(passing, directory)
    history.append(failing, directory)
    history.append(dataclasses.replace(passing, started_at="2026-01-01T00:10:00Z",
                                       interrupted=True), directory)


def test_history_command_shows_a_table_and_a_sparkline(tmp_path: Path) -> None:
    # Given three runs: 2 passes, 1 pass + 1 fail, 2 passes (interrupted)
    _runs(tmp_path)
    # When the history is shown on a UTF-8 output
    result = netcheck("history", "--dir", str(tmp_path))
    # Then every run is a row with its counts, and the sparkline follows
    assert result.returncode == 0, result.stderr
    for started in ("2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"):
        assert started in result.stdout
    assert "cat.yaml cccccccc" in result.stdout
    assert "yes" in result.stdout  # the interrupted one
    assert "passes, oldest \u2192 newest: \u2588\u2585\u2588" in result.stdout
    # And --last 1 shows only the newest
    last = netcheck("history", "--dir", str(tmp_path), "--last", "1")
    assert "00:05:00Z" not in last.stdout and "00:10:00Z" in last.stdout


def test_history_command_falls_back_to_ascii(tmp_path: Path) -> None:
    _runs(tmp_path)
    result = netcheck("history", "--dir", str(tmp_path), encoding="ascii")
    assert result.returncode == 0, result.stderr
    assert "passes, oldest -> newest: #=#" in result.stdout


def test_history_command_empty_and_unreadable(tmp_path: Path) -> None:
    # Given no history: a clear message, exit 0
    empty = netcheck("history", "--dir", str(tmp_path))
    assert empty.returncode == 0
    assert "no runs recorded in" in empty.stdout
    # Given an unreadable history: exit 2, one line
    history.history_path(tmp_path).mkdir()
    bad = netcheck("history", "--dir", str(tmp_path))
    assert bad.returncode == 2
    assert bad.stderr.startswith("netcheck: cannot read run history")
    assert bad.stderr.count("\n") == 1
    # And a bad --last is a usage error
    assert netcheck("history", "--last", "0").returncode == 2


def test_history_command_prints_no_escape_from_the_file(tmp_path: Path) -> None:
    # Given a history line someone edited to carry escapes and markup
    line = history.entry(report_of(endpoint()))
    line["catalog"]["source"] = "[red]cat\x1b]0;x\x07.yaml"
    line["started_at"] = "2026\x1b[2J"
    history.history_path(tmp_path).write_text(json.dumps(line) + "\n")
    result = netcheck("history", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "[red]cat.yaml" in result.stdout
