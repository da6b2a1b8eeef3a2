"""The hand-written fixtures agree with the diagnosis and round-trip through JSON."""

from __future__ import annotations

import dataclasses
import json

from netcheck.diagnosis import diagnose, summarize
from netcheck.model import RunReport


def test_fixture_findings_are_what_the_diagnosis_produces(
        sample_report: RunReport, hostile_report: RunReport) -> None:
    for report in (sample_report, hostile_report):
        for ep in report.endpoints:
            # Given an endpoint's DNS and targets without its verdict
            bare = dataclasses.replace(ep, findings=(), status="skip")
            # When diagnosed
            # Then the status and findings are the ones written in the fixture
            assert diagnose(bare) == ep, ep.name
        assert summarize(report.endpoints) == report.summary


def test_fixtures_round_trip_through_json(sample_report: RunReport,
                                          hostile_report: RunReport) -> None:
    for report in (sample_report, hostile_report):
        assert RunReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
