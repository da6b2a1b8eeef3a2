"""The Prometheus renderer, parsed back with prometheus_client's own parser.

Golden file: ``golden/sample.prom``; refresh with
``NETCHECK_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/render``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_json import assert_golden

from netcheck.model import RunReport
from netcheck.render.prometheus import render

Labels = tuple[tuple[str, str], ...]


def _samples(text: str) -> dict[str, dict[Labels, float]]:
    """metric sample name -> {sorted labels: value}."""
    out: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def _lbl(**labels: str) -> Labels:
    return tuple(sorted(labels.items()))


def test_help_and_type_for_every_metric(sample_report: RunReport) -> None:
    # Given the sample run rendered as Prometheus text
    text = render(sample_report)
    families = list(text_string_to_metric_families(text))
    # When the families are read
    # Then every one has HELP and TYPE lines, is a gauge, and is netcheck_-prefixed
    assert families
    for family in families:
        assert family.name.startswith("netcheck_")
        assert family.type == "gauge"
        assert family.documentation
        assert f"# HELP {family.name} " in text and f"# TYPE {family.name} gauge" in text
    assert text.endswith("\n")


def test_probe_success_and_durations(sample_report: RunReport) -> None:
    # Given the sample run / When rendered and parsed
    m = _samples(render(sample_report))
    success, duration = m["netcheck_probe_success"], m["netcheck_phase_duration_seconds"]
    # Then a dropped target has tcp success 0 with its time, and no series for
    # the phases skipped after it
    sml = _lbl(endpoint="sml", target="169.63.160.148", phase="tcp")
    assert success[sml] == 0
    assert duration[sml] == pytest.approx(5.0004)
    assert _lbl(endpoint="sml", target="169.63.160.148", phase="tls") not in success
    # and a passing websocket endpoint has 1 for every phase, DNS included
    for phase, target in (("dns", ""), ("tcp", "169.50.222.162"), ("tls", "169.50.222.162"),
                          ("websocket", "169.50.222.162")):
        assert success[_lbl(endpoint="webclient-uk3", target=target, phase=phase)] == 1
    # a warning still counts as success (the certificate expiring soon)
    assert success[_lbl(endpoint="workspace", target="104.18.30.7", phase="tls")] == 1
    # and the proxy tunnel is target="proxy"
    assert success[_lbl(endpoint="api-eu", target="proxy", phase="proxy")] == 0
    assert success[_lbl(endpoint="login-microsoft", target="proxy", phase="https")] == 1
    # every series of duration matches one of success
    assert set(duration) == set(success)


def test_phase_info_lists_every_phase_with_its_code(sample_report: RunReport) -> None:
    # Given the sample run / When rendered and parsed
    info = _samples(render(sample_report))["netcheck_phase_info"]
    # Then every phase of every target, skipped ones included, has one series
    expected = sum(1 + sum(len(t.phases) for t in e.targets) for e in sample_report.endpoints)
    assert len(info) == expected
    assert info[_lbl(endpoint="sml", target="169.63.160.148", phase="tls", code="skipped",
                     status="skip")] == 1
    assert info[_lbl(endpoint="webclient-de", target="158.177.2.2", phase="tls",
                     code="tls.reset", status="fail")] == 1


def test_certificate_expiry(sample_report: RunReport) -> None:
    # Given the sample run (workspace's certificate ends 2026-12-13T12:00:00Z)
    m = _samples(render(sample_report))["netcheck_tls_cert_not_after_seconds"]
    # When rendered / Then its expiry is that instant in Unix time, and every
    # target whose TLS phase saw a certificate has one
    expiry = dt.datetime(2026, 12, 13, 12, tzinfo=dt.UTC).timestamp()
    assert m[_lbl(endpoint="workspace", target="104.18.30.7")] == expiry
    assert _lbl(endpoint="webclient-ca", target="169.55.3.3") in m
    assert _lbl(endpoint="login-microsoft", target="proxy") in m
    assert _lbl(endpoint="webclient-de", target="158.177.2.2") not in m  # reset: no cert


def test_run_and_endpoint_series(sample_report: RunReport) -> None:
    # Given the sample run / When rendered and parsed
    m = _samples(render(sample_report))
    # Then the run's time, duration, status and counts are there
    finished = dt.datetime(2026, 12, 4, 10, 0, 6, tzinfo=dt.UTC).timestamp()
    assert m["netcheck_run_timestamp_seconds"][()] == finished
    assert m["netcheck_run_duration_seconds"][()] == pytest.approx(6.0125)
    assert m["netcheck_run_interrupted"][()] == 0
    assert m["netcheck_run_status"] == {_lbl(status="pass"): 0, _lbl(status="warn"): 0,
                                        _lbl(status="fail"): 1, _lbl(status="skip"): 0}
    s = sample_report.summary
    assert m["netcheck_endpoints"] == {_lbl(status="pass"): s.passed,
                                       _lbl(status="warn"): s.warned,
                                       _lbl(status="fail"): s.failed,
                                       _lbl(status="skip"): s.skipped}
    assert m["netcheck_findings"][_lbl(severity="fail")] == sum(
        1 for f in sample_report.findings if f.severity == "fail")
    # and each endpoint has one status set to 1 and its catalogue facts
    status = m["netcheck_endpoint_status"]
    for e in sample_report.endpoints:
        assert [status[_lbl(endpoint=e.name, status=st)] for st in ("pass", "warn", "fail",
                                                                     "skip")].count(1) == 1
        assert status[_lbl(endpoint=e.name, status=e.status)] == 1
    assert m["netcheck_endpoint_info"][_lbl(
        endpoint="login-microsoft", host="login.microsoftonline.com", port="443",
        probe="https", required="false")] == 1
    assert m["netcheck_build_info"] == {_lbl(version="0.1.0"): 1}


def test_each_render_starts_from_a_fresh_registry(sample_report: RunReport,
                                                  hostile_report: RunReport) -> None:
    # Given two different reports rendered one after the other in one process
    render(hostile_report)
    # When the second is rendered / Then nothing of the first is left in it
    text = render(sample_report)
    assert "evil" not in text
    assert text == render(sample_report)


def test_hostile_label_values_are_escaped(hostile_report: RunReport) -> None:
    # Given a saved report whose endpoint name was edited to carry quotes,
    # backslashes, newlines and escapes (names are validated in a catalogue,
    # but `netcheck report` reads whatever JSON it is handed)
    nasty = 'a"b\\c\nd <script> \x1b[31m\x00\ud800}'
    ep = dataclasses.replace(hostile_report.endpoints[0], name=nasty)
    report = dataclasses.replace(hostile_report, endpoints=(ep, *hostile_report.endpoints[1:]))
    # When it is rendered as Prometheus text
    text = render(report)
    # Then the label is one clean line (escape, NUL and surrogate dropped, the
    # newline a space) with the quote and backslash escaped, and the parser
    # reads it back as that line
    assert "\x1b" not in text and "\x00" not in text
    assert 'endpoint="a\\"b\\\\c d <script> }"' in text
    m = _samples(text)
    names = {dict(k)["endpoint"] for k in m["netcheck_endpoint_status"]}
    assert 'a"b\\c d <script> }' in names
    # and the hostile hostname in endpoint_info lost its terminal escape
    hosts = {dict(k)["host"] for k in m["netcheck_endpoint_info"]}
    assert "evilhost.example" in hosts


def test_golden_sample_prom(sample_report: RunReport) -> None:
    # Given the sample run / When rendered / Then it matches golden/sample.prom
    assert_golden("sample.prom", render(sample_report))
