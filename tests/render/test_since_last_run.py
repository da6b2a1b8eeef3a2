"""Every human renderer shows what changed since the last run."""

from __future__ import annotations

import dataclasses

from netcheck.diff import compare, describe
from netcheck.model import RunReport
from netcheck.render import console, html, markdown


def _with_changes(report: RunReport) -> RunReport:
    # Given a previous run in which every endpoint passed
    old = dataclasses.replace(report, endpoints=tuple(
        dataclasses.replace(e, status="pass", targets=tuple(
            dataclasses.replace(t, status="pass") for t in e.targets))
        for e in report.endpoints))
    changes = compare(old, report).to_dict()
    return dataclasses.replace(report, since_last_run=changes)


def test_changes_appear_in_console_markdown_and_html(sample_report: RunReport) -> None:
    report = _with_changes(sample_report)
    lines = describe(report.since_last_run or {})
    assert any(line.startswith("newly failing") for line in lines)
    first = lines[0]
    # When each human format renders it / Then the first change is there, worded once
    assert "Since the last run" in console.render(report)
    assert first in console.render(report)
    assert "## Since the last run" in markdown.render(report)
    page = html.render(report)
    assert 'id="since-last-run"' in page and 'data-tone="worse"' in page


def test_no_change_says_so(sample_report: RunReport) -> None:
    report = dataclasses.replace(sample_report,
                                 since_last_run=compare(sample_report, sample_report).to_dict())
    assert "Nothing changed since the last run" in console.render(report)
    assert "Nothing changed since the last run" in markdown.render(report)
    assert "Nothing changed since the last run" in html.render(report)


def test_no_previous_run_shows_nothing(sample_report: RunReport) -> None:
    assert sample_report.since_last_run is None
    assert "Since the last run" not in console.render(sample_report)
    assert "since-last-run" not in html.render(sample_report)
