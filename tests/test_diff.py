"""compare(): every kind of change, from reports and from history lines alike;
the ``netcheck diff`` command as a subprocess with its exit codes.

The reports here are built in memory: compare() is pure, and which network
outcome produced a status does not matter to it (the lab test in
tests/lab/test_history_cli.py produces the same changes through real sockets).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from netcheck import diff, history
from netcheck.codes import STATUS_ORDER
from netcheck.model import (
    CatalogInfo,
    DnsResult,
    EndpointResult,
    HostInfo,
    PhaseResult,
    RunReport,
    Summary,
    TargetResult,
    skipped,
)
from netcheck.render import json as json_render
from netcheck.reportschema import validate_report

NETCHECK = str(Path(sys.executable).parent / "netcheck")
SHA_A, SHA_B = "a" * 64, "b" * 64
ISSUER = "CN=Vendor CA,O=Vendor"


def tls_phase(sha256: str = SHA_A, issuer: str = ISSUER, ms: float = 20.0) -> PhaseResult:
    return PhaseResult("tls", "pass", "tls.ok", ms, "ok", {
        "version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256", "subject": "CN=x",
        "issuer": issuer, "san": ["x"], "not_after": "2030-01-01T00:00:00Z",
        "sha256": sha256})


def good_target(ip: str = "192.0.2.1", sha256: str = SHA_A, issuer: str = ISSUER,
                tcp_ms: float = 10.0, tls_ms: float = 20.0) -> TargetResult:
    return TargetResult(ip, "both", "pass", (
        PhaseResult("tcp", "pass", "tcp.ok", tcp_ms, "ok"),
        tls_phase(sha256, issuer, tls_ms)))


def refused_target(ip: str = "192.0.2.1") -> TargetResult:
    return TargetResult(ip, "both", "fail", (
        PhaseResult("tcp", "fail", "tcp.refused", 1.0, "refused"), skipped("tls")))


def endpoint(name: str = "api", targets: Sequence[TargetResult] = (),
             unexpected: Sequence[str] = (), dns_code: str = "dns.ok",
             dns_ms: float = 3.0) -> EndpointResult:
    targets = tuple(targets) if targets else (good_target(),)
    dns_status = "warn" if unexpected else ("pass" if dns_code == "dns.ok" else "fail")
    statuses = [dns_status, *(t.status for t in targets)]
    status = max(statuses, key=lambda s: STATUS_ORDER[s])
    return EndpointResult(
        name=name, host=f"{name}.example.test", port=443, probe="tls", required=True,
        tags=(), status=status,  # type: ignore[arg-type]
        dns=DnsResult(dns_status, dns_code, dns_ms, "",  # type: ignore[arg-type]
                      addresses=("192.0.2.1", *unexpected), expected_ips=("192.0.2.1",),
                      unexpected=tuple(unexpected)),
        targets=targets)


def report_of(*endpoints: EndpointResult, started_at: str = "2026-01-01T00:00:00Z",
              sha256: str = "c" * 64, interrupted: bool = False,
              options: dict[str, object] | None = None) -> RunReport:
    counts = {s: sum(e.status == s for e in endpoints) for s in ("pass", "warn", "fail", "skip")}
    worst = max((e.status for e in endpoints), key=lambda s: STATUS_ORDER[s], default="pass")
    return RunReport(
        tool_version="0.1.0", started_at=started_at, finished_at=started_at,
        duration_ms=100.0, interrupted=interrupted,
        host=HostInfo("box", "Linux"), catalog=CatalogInfo("cat.yaml", sha256, len(endpoints)),
        options=options if options is not None else
        {"timeout": 1.0, "targets": "both", "concurrency": 4, "resolvers": [], "proxy": None},
        summary=Summary(worst, counts["pass"], counts["warn"],  # type: ignore[arg-type]
                        counts["fail"], counts["skip"]),
        endpoints=tuple(endpoints))


def both_ways(old: RunReport, new: RunReport) -> diff.Changes:
    """compare() from the reports, asserting the history line gives the same."""
    from_reports = diff.compare(old, new)
    from_entry = diff.compare(json.loads(json.dumps(history.entry(old))), new)
    assert from_entry.to_dict() == {
        **from_reports.to_dict(),
        "compared_with": {**from_reports.compared_with.to_dict(),
                          "run_id": from_entry.compared_with.run_id}}
    return from_reports


def test_no_change_is_empty_and_not_a_regression() -> None:
    # Given two identical runs
    old = report_of(endpoint())
    # When they are compared
    changes = both_ways(old, report_of(endpoint()))
    # Then nothing changed
    assert changes.empty and not changes.regressions
    assert diff.describe(changes.to_dict()) == []


def test_newly_failing_names_the_target_and_the_new_codes() -> None:
    # Given an endpoint that passed, then its one target refuses
    old = report_of(endpoint())
    new = report_of(endpoint(targets=[refused_target()]))
    # When compared
    changes = both_ways(old, new)
    # Then it is newly failing with tcp.refused, on that target, a regression
    assert changes.regressions
    (change,) = changes.newly_failing
    assert (change.endpoint, change.old, change.new, change.codes) == (
        "api", "pass", "fail", ("tcp.refused",))
    assert [t.to_dict() for t in change.targets] == [
        {"target": "192.0.2.1", "old": "pass", "new": "fail", "codes": ["tcp.refused"]}]
    assert not changes.recovered
    assert diff.describe(changes.to_dict())[0] == "newly failing: api (pass -> fail): tcp.refused"


def test_a_second_target_failing_on_a_failing_endpoint_is_newly_failing() -> None:
    # Given an endpoint already failing on one IP
    old = report_of(endpoint(targets=[refused_target("192.0.2.1"), good_target("192.0.2.2")]))
    # When its other IP starts failing too
    new = report_of(endpoint(targets=[refused_target("192.0.2.1"),
                                      refused_target("192.0.2.2")]))
    changes = both_ways(old, new)
    # Then that target is reported, though the endpoint's status did not move
    (change,) = changes.newly_failing
    assert (change.old, change.new) == ("fail", "fail")
    assert [t.target for t in change.targets] == ["192.0.2.2"]


def test_a_new_target_that_fails_counts_as_newly_failing() -> None:
    # Given DNS now hands out an address that was not probed before, and it fails
    old = report_of(endpoint())
    new = report_of(endpoint(targets=[good_target(), refused_target("192.0.2.9")]))
    changes = both_ways(old, new)
    # Then it is newly failing, with "not probed" as its old state
    (change,) = changes.newly_failing
    assert change.targets[0].to_dict()["old"] is None
    assert "  192.0.2.9: not probed -> fail: tcp.refused" in diff.describe(changes.to_dict())


def test_dns_failure_without_targets_is_newly_failing() -> None:
    # Given a CDN endpoint (no published IPs) whose name stops resolving
    old = report_of(endpoint())
    new = report_of(EndpointResult(
        name="api", host="api.example.test", port=443, probe="tls", required=True, tags=(),
        status="fail", dns=DnsResult("fail", "dns.nxdomain", 2.0, "")))
    changes = both_ways(old, new)
    # Then the endpoint itself is newly failing with the DNS code
    (change,) = changes.newly_failing
    assert change.codes == ("dns.nxdomain",) and change.targets == ()


def test_recovered_is_good_news_not_a_regression() -> None:
    # Given a failing endpoint that passes again
    changes = both_ways(report_of(endpoint(targets=[refused_target()])), report_of(endpoint()))
    # Then it is recovered and the diff is not worse
    (change,) = changes.recovered
    assert (change.old, change.new) == ("fail", "pass")
    assert not changes.newly_failing and not changes.regressions


def test_skip_moves_are_not_reported() -> None:
    # Given a target skipped (no route for its family), then passing
    skipped_target = TargetResult("2001:db8::1", "resolved", "skip", (skipped("tcp"),))
    old = report_of(endpoint(targets=[good_target(), skipped_target]))
    new = report_of(endpoint(targets=[good_target(), good_target("2001:db8::1")]))
    # Then nothing is reported
    assert both_ways(old, new).empty


def test_new_unexpected_dns_answer_is_a_regression_only_when_new() -> None:
    # Given DNS answering an address outside the published list
    old = report_of(endpoint())
    new = report_of(endpoint(unexpected=["198.51.100.7"]))
    changes = both_ways(old, new)
    # Then it is reported once, as a regression
    assert [c.to_dict() for c in changes.new_unexpected_dns] == [
        {"endpoint": "api", "addresses": ["198.51.100.7"]}]
    assert changes.regressions
    # And the next run with the same unexpected answer reports nothing new
    again = both_ways(new, report_of(endpoint(unexpected=["198.51.100.7"])))
    assert again.empty


def test_certificate_renewal_is_noted_but_a_new_issuer_is_a_regression() -> None:
    # Given a target whose leaf certificate changes, same issuer
    old = report_of(endpoint())
    renewed = both_ways(old, report_of(endpoint(targets=[good_target(sha256=SHA_B)])))
    # Then it is a change, not a regression
    (cert,) = renewed.cert_changed
    assert (cert.old_sha256, cert.new_sha256, cert.issuer_changed) == (SHA_A, SHA_B, False)
    assert not renewed.regressions
    # Given instead a new issuer (what inspection looks like)
    moved = both_ways(old, report_of(endpoint(targets=[good_target(
        sha256=SHA_B, issuer="CN=Some Firewall CA")])))
    # Then it is a regression and the words name both issuers
    assert moved.regressions and moved.cert_changed[0].issuer_changed
    line = diff.describe(moved.to_dict())[0]
    assert f"issuer {ISSUER} -> CN=Some Firewall CA" in line
    assert "aaaaaaaaaaaaaaaa -> bbbbbbbbbbbbbbbb" in line


def test_no_certificate_on_one_side_is_not_a_certificate_change() -> None:
    # Given a target that failed at TCP (no certificate seen), then passes
    changes = both_ways(report_of(endpoint(targets=[refused_target()])), report_of(endpoint()))
    # Then it recovered, and no certificate change is claimed
    assert changes.recovered and not changes.cert_changed


def test_latency_up_needs_both_double_and_200ms() -> None:
    # Given TLS at 20 ms, then at 300 ms (15x and +280 ms)
    old = report_of(endpoint())
    slow = both_ways(old, report_of(endpoint(targets=[good_target(tls_ms=300.0)])))
    # Then latency is up sharply, a warning only
    assert [c.to_dict() for c in slow.latency_up] == [
        {"endpoint": "api", "target": "192.0.2.1", "phase": "tls",
         "old_ms": 20.0, "new_ms": 300.0}]
    assert not slow.regressions
    # But 10 ms -> 150 ms (15x, +140 ms) and 400 ms -> 700 ms (+300 ms, 1.75x) are not
    assert both_ways(old, report_of(endpoint(targets=[good_target(tcp_ms=150.0)]))).empty
    base = report_of(endpoint(targets=[good_target(tcp_ms=400.0)]))
    assert both_ways(base, report_of(endpoint(targets=[good_target(tcp_ms=700.0)]))).empty


def test_latency_of_dns_counts_and_a_failure_is_not_latency() -> None:
    # Given DNS slows from 3 ms to 900 ms
    changes = both_ways(report_of(endpoint()), report_of(endpoint(dns_ms=900.0)))
    assert [(c.target, c.phase) for c in changes.latency_up] == [(None, "dns")]
    assert "latency up sharply: api dns 3 ms -> 900 ms" in diff.describe(changes.to_dict())
    # Given a target that now fails (its duration is a timeout's)
    failing = both_ways(report_of(endpoint()), report_of(endpoint(targets=[TargetResult(
        "192.0.2.1", "both", "fail",
        (PhaseResult("tcp", "fail", "tcp.timeout", 5000.0, "timeout"), skipped("tls")))])))
    # Then it is newly failing, not "slower"
    assert failing.newly_failing and not failing.latency_up


def test_endpoints_added_and_removed() -> None:
    old = report_of(endpoint("a"), endpoint("b"))
    new = report_of(endpoint("b"), endpoint("c", targets=[refused_target()]))
    changes = both_ways(old, new)
    assert changes.endpoints_added == ("c",) and changes.endpoints_removed == ("a",)
    # An endpoint new to the comparison is not "newly failing": it has no past
    assert not changes.newly_failing and not changes.regressions


def test_proxy_target_is_keyed_proxy() -> None:
    # Given a run through a proxy (one target, ip null)
    tunnel = TargetResult(None, "proxy", "pass", (
        PhaseResult("tcp", "pass", "tcp.ok", 1.0), PhaseResult("proxy", "pass", "proxy.ok", 5.0),
        tls_phase()))
    blocked = TargetResult(None, "proxy", "fail", (
        PhaseResult("tcp", "pass", "tcp.ok", 1.0),
        PhaseResult("proxy", "fail", "proxy.denied", 5.0), skipped("tls")))
    changes = both_ways(report_of(endpoint(targets=[tunnel])),
                        report_of(endpoint(targets=[blocked])))
    assert changes.newly_failing[0].targets[0].to_dict() == {
        "target": "proxy", "old": "pass", "new": "fail", "codes": ["proxy.denied"]}


def test_changes_validate_as_since_last_run_and_describe_is_clean() -> None:
    # Given a change whose text comes from the network (an issuer with escapes)
    hostile = "CN=\x1b]0;pwned\x07Evil\x1b[2J CA"
    changes = diff.compare(report_of(endpoint()), report_of(
        endpoint(targets=[good_target(sha256=SHA_B, issuer=hostile)]),
        endpoint("other", targets=[refused_target()])))
    # When it is put in a report as since_last_run
    report = dataclasses.replace(report_of(endpoint()), since_last_run=changes.to_dict())
    doc = json.loads(json_render.render(report))
    # Then the report validates against the schema, and no escape reaches the words
    assert validate_report(doc) == []
    assert all("\x1b" not in line and "\x07" not in line
               for line in diff.describe(doc["since_last_run"]))


# -- the command ------------------------------------------------------------------

def netcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NETCHECK, *args], capture_output=True, text=True, timeout=60,
                          check=False)


def save(report: RunReport, path: Path) -> Path:
    path.write_text(json_render.render(report), encoding="utf-8")
    return path


def test_diff_command_exit_codes_and_formats(tmp_path: Path) -> None:
    # Given three saved reports: good, then broken, then good again
    good = save(report_of(endpoint()), tmp_path / "good.json")
    bad = save(report_of(endpoint(targets=[refused_target()]),
                         started_at="2026-01-01T00:05:00Z"), tmp_path / "bad.json")
    # When good -> bad is diffed
    worse = netcheck("diff", str(good), str(bad))
    # Then it exits 1 and says what broke
    assert worse.returncode == 1, worse.stderr
    assert "newly failing: api (pass -> fail): tcp.refused" in worse.stdout
    assert "regressions: yes" in worse.stdout
    # And bad -> good exits 0, as JSON too
    better = netcheck("diff", str(bad), str(good), "--format", "json")
    assert better.returncode == 0, better.stderr
    doc = json.loads(better.stdout)
    assert doc["regressions"] is False
    assert doc["recovered"][0]["endpoint"] == "api"
    assert doc["compared_with"] == {"run_id": None, "started_at": "2026-01-01T00:05:00Z",
                                    "status": "fail"}
    # And the same report against itself: no change, exit 0
    same = netcheck("diff", str(good), str(good))
    assert same.returncode == 0 and "no change" in same.stdout


def test_diff_command_unreadable_report_exits_2_in_one_line(tmp_path: Path) -> None:
    good = save(report_of(endpoint()), tmp_path / "good.json")
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    for args in ((str(good), str(junk)), (str(tmp_path / "missing.json"), str(good))):
        result = netcheck("diff", *args)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("netcheck: ")
        assert "Traceback" not in result.stderr


def test_diff_command_prints_no_escape_from_a_report(tmp_path: Path) -> None:
    # Given a report file whose issuer carries terminal escapes and rich markup
    old = save(report_of(endpoint()), tmp_path / "old.json")
    new = save(report_of(endpoint(targets=[good_target(
        sha256=SHA_B, issuer="CN=[bold red]x[/] \x1b[2J\x1b]0;t\x07CA")])), tmp_path / "new.json")
    # When diffed
    result = netcheck("diff", str(old), str(new))
    # Then markup is shown literally and no escape sequence is printed
    assert result.returncode == 1
    assert "[bold red]x[/]" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
