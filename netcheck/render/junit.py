"""JUnit XML, for CI test reporters (Jenkins, GitLab, GitHub test-report actions).

One ``<testsuite>`` per endpoint (``name`` = the catalogue entry), one
``<testcase>`` for its DNS phase and one per target and phase::

    <testcase name="tcp 169.63.160.148:8021" classname="netcheck.sml" time="5.000">

A testcase's outcome follows the finding the diagnosis made for that phase,
so CI agrees with netcheck's exit code:

* a ``fail`` finding     -> ``<failure message=summary type=code>action</failure>``;
* a ``warn`` or ``info`` finding -> the testcase passes, with the finding in
  ``<system-out>``: CI readers show it on the test without turning the run
  red (a warning fails a run only with ``--strict``, which is the exit
  code's business, not the report's);
* a ``skip`` phase       -> ``<skipped message=...>``;
* no finding: the phase's own status decides, worded from ``codes.py``.

Text from the network passes through :func:`netcheck.sanitize.clean_block`
(terminal escapes and controls removed, line breaks kept); what XML 1.0
still cannot carry (lone surrogates, U+FFFE/U+FFFF) is removed too, because
no escaping can make it valid and a reader that meets one rejects the whole
file. ElementTree then escapes markup.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from netcheck import codes, sanitize
from netcheck.model import EndpointResult, Finding, PhaseResult, RunReport, TargetResult

# Not Char in XML 1.0 (C0 controls but TAB LF CR, surrogates, U+FFFE/U+FFFF),
# plus DEL and the C1 controls, which XML 1.0 allows but discourages (section
# 2.2). sanitize.clean_block already drops the controls; this is the backstop.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: object) -> str:
    """``value`` as safe text that XML 1.0 can carry."""
    return _NOT_XML.sub("", sanitize.clean_block(value))


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.3f}"


def _sub(parent: ET.Element, tag: str, text: str | None = None,
         **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        el.text = xml_text(text)
    return el


def target_label(endpoint: EndpointResult, target: TargetResult) -> str:
    """``169.63.160.148:8021``, ``[2606:4700::1]:443``, or ``host:port via proxy``."""
    if target.ip is None:
        return f"{endpoint.host}:{endpoint.port} via proxy"
    ip = f"[{target.ip}]" if ":" in target.ip else target.ip
    return f"{ip}:{endpoint.port}"


def _finding_for(endpoint: EndpointResult, code: str, ip: str | None) -> Finding | None:
    for f in endpoint.findings:
        if f.code == code and f.ip == ip:
            return f
    return None


def _outcome(case: ET.Element, phase: PhaseResult, finding: Finding | None) -> str:
    """Fill in the testcase's outcome; return it (``failure|skipped|passed``)."""
    if phase.status == "skip":
        reason = phase.detail or codes.get(phase.code).meaning
        _sub(case, "skipped", message=reason)
        return "skipped"
    if finding is not None and finding.severity == "fail":
        _sub(case, "failure", finding.action, message=finding.summary, type=finding.code)
        return "failure"
    if finding is not None:
        lines = [f"{finding.severity}: {finding.code}: {finding.summary}"]
        if finding.action:
            lines.append(finding.action)
        _sub(case, "system-out", "\n".join(lines))
        return "passed"
    if phase.status == "fail":
        meaning = codes.get(phase.code).meaning
        _sub(case, "failure", phase.detail, message=meaning, type=phase.code)
        return "failure"
    if phase.status == "warn":
        note = phase.detail or codes.get(phase.code).meaning
        _sub(case, "system-out", f"warn: {phase.code}: {note}")
    return "passed"


def _testcase(suite: ET.Element, endpoint: EndpointResult, name: str,
              phase: PhaseResult, ip: str | None) -> str:
    case = _sub(suite, "testcase", name=name, classname=f"netcheck.{endpoint.name}",
                time=_seconds(phase.duration_ms))
    return _outcome(case, phase, _finding_for(endpoint, phase.code, ip))


def _suite(root: ET.Element, endpoint: EndpointResult, report: RunReport) -> dict[str, float]:
    # Counts are set once known; placeholders keep the attribute order fixed.
    suite = _sub(root, "testsuite", name=endpoint.name, **_COUNT_PLACEHOLDERS,
                 timestamp=report.started_at, hostname=report.host.hostname)
    props = _sub(suite, "properties")
    for key, value in (("host", endpoint.host), ("port", str(endpoint.port)),
                       ("probe", endpoint.probe), ("required", str(endpoint.required).lower()),
                       ("status", endpoint.status), ("purpose", endpoint.purpose)):
        _sub(props, "property", name=key, value=value)

    dns = endpoint.dns
    dns_phase = PhaseResult(phase="dns", status=dns.status, code=dns.code,
                            duration_ms=dns.duration_ms, detail=dns.detail)
    outcomes = [_testcase(suite, endpoint, f"dns {endpoint.host}", dns_phase, None)]
    total_ms = dns.duration_ms
    for target in endpoint.targets:
        label = target_label(endpoint, target)
        for phase in target.phases:
            outcomes.append(_testcase(suite, endpoint, f"{phase.phase} {label}", phase,
                                      target.ip))
            total_ms += phase.duration_ms
    counts = {"tests": float(len(outcomes)), "failures": float(outcomes.count("failure")),
              "errors": 0.0, "skipped": float(outcomes.count("skipped")), "time": total_ms}
    _set_counts(suite, counts)
    return counts


_COUNT_PLACEHOLDERS = {"tests": "0", "failures": "0", "errors": "0", "skipped": "0",
                       "time": "0"}


def _set_counts(el: ET.Element, counts: dict[str, float]) -> None:
    for key in ("tests", "failures", "errors", "skipped"):
        el.set(key, str(int(counts[key])))
    el.set("time", _seconds(counts["time"]))


def render(report: RunReport) -> str:
    root = ET.Element("testsuites", {"name": "netcheck", **_COUNT_PLACEHOLDERS,
                                     "timestamp": xml_text(report.started_at)})
    total = {"tests": 0.0, "failures": 0.0, "errors": 0.0, "skipped": 0.0, "time": 0.0}
    for endpoint in report.endpoints:
        for key, value in _suite(root, endpoint, report).items():
            total[key] += value
    _set_counts(root, total)
    # The run's wall time, not the sum of concurrent phases.
    root.set("time", _seconds(report.duration_ms))
    ET.indent(root)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode") + "\n")
