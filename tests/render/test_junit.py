"""The JUnit XML renderer, read back with junitparser as CI readers would.

Golden file: ``golden/sample.xml``; refresh with
``NETCHECK_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/render``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from junitparser import Failure, JUnitXml, Skipped, TestCase
from test_json import assert_golden

from netcheck.model import RunReport
from netcheck.render.junit import render, xml_text


def _parse(text: str) -> JUnitXml:
    # Bytes, so that the encoding declaration is honoured by any parser.
    return JUnitXml.fromstring(text.encode("utf-8"))


def _cases(xml: JUnitXml) -> dict[tuple[str, str], TestCase]:
    return {(c.classname, c.name): c for suite in xml for c in suite}


def test_one_suite_per_endpoint_one_case_per_target_and_phase(
        sample_report: RunReport) -> None:
    # Given the sample run
    # When it is rendered as JUnit and parsed back
    xml = _parse(render(sample_report))
    suites = list(xml)
    # Then there is one suite per endpoint, in catalogue order, each with a
    # DNS case plus one case per target and phase
    assert [s.name for s in suites] == [e.name for e in sample_report.endpoints]
    for suite, endpoint in zip(suites, sample_report.endpoints, strict=True):
        assert suite.tests == 1 + sum(len(t.phases) for t in endpoint.targets)
        assert len(list(suite)) == suite.tests
        assert all(c.classname == f"netcheck.{endpoint.name}" for c in suite)
    sml = suites[2]
    assert (sml.tests, sml.failures, sml.errors, sml.skipped) == (7, 2, 0, 4)
    assert [c.name for c in sml] == [
        "dns sml.moviuscorp.net",
        "tcp 169.63.160.148:8021", "tls 169.63.160.148:8021", "https 169.63.160.148:8021",
        "tcp 169.63.26.228:8021", "tls 169.63.26.228:8021", "https 169.63.26.228:8021"]


def test_root_counts_add_up(sample_report: RunReport) -> None:
    # Given the sample run rendered as JUnit
    xml = _parse(render(sample_report))
    suites = list(xml)
    # When the root's counters are read / Then they are the sums of the suites',
    # and the failures are exactly the fail findings
    assert xml.tests == sum(s.tests for s in suites)
    assert xml.failures == sum(s.failures for s in suites)
    assert xml.skipped == sum(s.skipped for s in suites)
    assert xml.errors == 0
    assert xml.failures == sum(1 for f in sample_report.findings if f.severity == "fail")
    assert xml.time == pytest.approx(sample_report.duration_ms / 1000, abs=0.001)


def test_failure_carries_the_finding(sample_report: RunReport) -> None:
    # Given the sample run, where 169.63.160.148:8021 is dropped
    cases = _cases(_parse(render(sample_report)))
    finding = next(f for f in sample_report.findings
                   if f.endpoint == "sml" and f.ip == "169.63.160.148")
    # When the tcp testcase is read
    case = cases[("netcheck.sml", "tcp 169.63.160.148:8021")]
    # Then it failed with the finding's summary, code and action, as worded in codes.py
    [result] = case.result
    assert isinstance(result, Failure)
    assert result.message == finding.summary
    assert result.type == "tcp.timeout"
    assert result.text == "Allow outbound TCP 8021 to 169.63.160.148 (sml.moviuscorp.net)"
    assert case.time == pytest.approx(5.000)


@pytest.mark.parametrize("key,code", [
    (("netcheck.msg-eu", "dns msg-eu.moviuscorp.net"), "dns.nxdomain"),
    (("netcheck.webclient-de", "tls 158.177.2.2:443"), "tls.reset"),
    (("netcheck.webclient-ca", "tls 169.55.3.3:443"), "tls.intercepted"),
    (("netcheck.push", "websocket 169.62.4.4:443"), "ws.no_pong"),
    (("netcheck.api-eu", "proxy api-eu.moviuscorp.com:8021 via proxy"), "proxy.denied"),
])
def test_each_failed_phase_is_a_failure(sample_report: RunReport, key: tuple[str, str],
                                        code: str) -> None:
    # Given the sample run / When the failed phase's testcase is read
    case = _cases(_parse(render(sample_report)))[key]
    # Then it is a failure typed with the phase's code
    [result] = case.result
    assert isinstance(result, Failure)
    assert result.type == code


def test_warnings_and_info_pass_with_a_note(sample_report: RunReport) -> None:
    # Given the sample run (a certificate expiring soon; DNS timing out behind
    # a working proxy, which is only informational)
    cases = _cases(_parse(render(sample_report)))
    # When those testcases are read
    expiring = cases[("netcheck.workspace", "tls 104.18.30.7:443")]
    dns_info = cases[("netcheck.login-microsoft", "dns login.microsoftonline.com")]
    # Then they pass, and the note carries the finding's wording
    assert expiring.is_passed and dns_info.is_passed
    assert expiring.system_out.startswith("warn: tls.expiring_soon: The certificate expires soon.")
    assert "expires in 9 days; tell the vendor." in expiring.system_out
    assert dns_info.system_out.startswith("info: dns.timeout: No DNS answer within the timeout.")


def test_skips_say_why(sample_report: RunReport) -> None:
    # Given the sample run (an IPv6 target on an IPv4-only host; TLS after a drop)
    cases = _cases(_parse(render(sample_report)))
    # When the skipped testcases are read
    v6 = cases[("netcheck.cdn", "tcp [2606:4700::6812:1401]:443")]
    after_drop = cases[("netcheck.sml", "tls 169.63.160.148:8021")]
    # Then each is skipped with its reason
    [r1], [r2] = v6.result, after_drop.result
    assert isinstance(r1, Skipped) and r1.message == "This host has no IPv6 route; not counted."
    assert isinstance(r2, Skipped) and r2.message == "Not run because an earlier phase failed."


def test_hostile_text_yields_valid_xml(hostile_report: RunReport) -> None:
    # Given the hostile run (NUL, ESC, C1 controls, <script>, quotes, newlines)
    # When it is rendered as JUnit
    text = render(hostile_report)
    # Then a strict XML 1.0 parser (expat) accepts it, no control character is
    # left, and the markup in the data is text, not elements
    root = ET.fromstring(text.encode("utf-8"))
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", text)
    assert root.find(".//script") is None
    messages = [f.get("message", "") for f in root.iter("failure")]
    assert any("<script>alert(1)</script>" in m for m in messages)
    assert any('"quoted", comma\nnew line' in m for m in messages)
    xml = _parse(text)
    assert xml.failures == sum(1 for f in hostile_report.findings if f.severity == "fail")


def test_xml_text_removes_escapes_and_what_xml_cannot_carry() -> None:
    # Given text with controls, terminal escapes (7- and 8-bit CSI), a lone
    # surrogate, a non-character, line breaks and ordinary non-ASCII
    raw = "a\x00b\x1b[31mc\x7fd\x9b2Je\ud800f\ufffeg\th\ni\rj é 電話"
    # When it is made XML-safe
    # Then escapes and invalid characters are gone, line breaks are kept
    # (normalised to LF), a tab is a space, and the rest is untouched
    assert xml_text(raw) == "abcdefg h\ni\nj é 電話"


def test_golden_sample_xml(sample_report: RunReport) -> None:
    # Given the sample run / When it is rendered / Then it matches golden/sample.xml
    assert_golden("sample.xml", render(sample_report))
