"""The JSON renderer and loader (the report contract).

Golden files live in ``tests/render/golden/``; after an intended change to a
format, refresh them with::

    NETCHECK_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/render

and review the diff before committing it. ``assert_golden`` is shared by the
json, junit, html and prometheus tests.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from netcheck.model import RunReport
from netcheck.render import json as json_render
from netcheck.render.json import ReportLoadError, load, render
from netcheck.reportschema import validate_report

GOLDEN = Path(__file__).parent / "golden"


def assert_golden(name: str, text: str) -> None:
    """``text`` equals ``golden/<name>``, or rewrites it under NETCHECK_UPDATE_GOLDEN=1."""
    path = GOLDEN / name
    if os.environ.get("NETCHECK_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        return
    assert path.exists(), f"{path} missing: run with NETCHECK_UPDATE_GOLDEN=1 to create it"
    expected = path.read_bytes().decode("utf-8")
    assert text == expected, (f"{name} differs from the golden file; if the change is "
                              "intended, refresh with NETCHECK_UPDATE_GOLDEN=1")


CONTRACT_KEYS = ["schema", "tool", "started_at", "finished_at", "duration_ms", "interrupted",
                 "host", "catalog", "options", "summary", "endpoints", "findings"]


def test_json_is_the_contract_document(sample_report: RunReport) -> None:
    # Given the sample run
    # When it is rendered as JSON
    text = render(sample_report)
    doc = json.loads(text)
    # Then it is the model's document, keys in contract order, extended only
    # by change_request, one trailing newline, and valid against the schema
    assert text.endswith("}\n") and not text.endswith("\n\n")
    keys = list(doc)
    assert keys[:len(CONTRACT_KEYS)] == CONTRACT_KEYS
    assert keys[len(CONTRACT_KEYS):] in (["since_last_run"],
                                         ["since_last_run", "change_request"])
    assert {k: v for k, v in doc.items() if k != "change_request"} == sample_report.to_dict()
    assert validate_report(doc) == []


def test_json_carries_the_change_request(sample_report: RunReport) -> None:
    # Given the sample run
    from netcheck.changes import build_change_request

    # When it is rendered as JSON
    doc = json.loads(render(sample_report))
    # Then change_request is the change request's own document, and validates
    assert doc["change_request"] == build_change_request(sample_report).to_dict()
    assert validate_report(doc) == []


@pytest.mark.parametrize("which", ["sample_report", "hostile_report"])
def test_round_trip(which: str, request: pytest.FixtureRequest) -> None:
    # Given a report (hostile strings included)
    report: RunReport = request.getfixturevalue(which)
    # When it is rendered and read back
    again = RunReport.from_dict(json.loads(render(report)))
    # Then it is the same report, and so is what load() returns
    assert again == report
    assert load(render(report)) == report


def test_hostile_strings_survive_as_data(hostile_report: RunReport) -> None:
    # Given the hostile run
    # When it is rendered as JSON
    text = render(hostile_report)
    # Then it is valid JSON with every control character escaped (json.loads
    # is strict: a raw control character inside a string would fail), and
    # it still validates against the schema
    doc = json.loads(text)
    assert "\x00" not in text and "\x1b" not in text
    assert "\\u001b" in text and "\\u0000" in text
    assert validate_report(doc) == []


def test_json_keeps_non_ascii(sample_report: RunReport) -> None:
    # Given a report whose purpose is not ASCII
    ep = sample_report.endpoints[0]
    report = dataclasses.replace(sample_report, endpoints=(
        dataclasses.replace(ep, purpose="Téléphonie 電話"), *sample_report.endpoints[1:]))
    # When it is rendered / Then the text is written as is, not \u-escaped
    assert "Téléphonie 電話" in render(report)


def test_golden_sample_json(sample_report: RunReport) -> None:
    # Given the sample run / When it is rendered / Then it matches golden/sample.json
    assert_golden("sample.json", render(sample_report))


# -- load ----------------------------------------------------------------------


def test_load_reads_a_saved_file(sample_report: RunReport, tmp_path: Path) -> None:
    # Given a report saved to a file
    path = tmp_path / "run.json"
    path.write_text(render(sample_report), encoding="utf-8")
    # When it is loaded by path (Path or str), with or without validation
    # Then the report comes back
    assert load(path) == sample_report
    assert load(str(path)) == sample_report
    assert load(path, validate=True) == sample_report


@pytest.mark.parametrize("content,message", [
    ("not json at all", "not a netcheck report (invalid JSON at line 1 column 1"),
    ('{"name": "some-package", "version": "1.0"}',
     "not a netcheck report (no \"schema\": 'netcheck.report/1' key at the top level)"),
    ("[1, 2, 3]", "not a netcheck report (no \"schema\""),
    ('{"schema": "netcheck.report/2"}',
     "unsupported report schema 'netcheck.report/2' (written by a newer netcheck?); "
     "this netcheck reads 'netcheck.report/1'"),
    ('{"schema": "netcheck.report/1", "tool": {"version": "0.1.0"}}',
     "invalid netcheck report: missing field 'started_at'"),
])
def test_load_rejects_a_non_report_in_one_line(tmp_path: Path, content: str,
                                               message: str) -> None:
    # Given a file that is not a netcheck report of this version
    path = tmp_path / "other.json"
    path.write_text(content, encoding="utf-8")
    # When it is loaded
    with pytest.raises(ReportLoadError) as err:
        load(path)
    # Then the one-line message names the file and says what is wrong
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)


def test_load_rejects_binary_and_missing_files(tmp_path: Path) -> None:
    # Given a binary file and a path that does not exist
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    # When they are loaded / Then each gets a clear one-line error
    with pytest.raises(ReportLoadError, match=r"image\.png: not a netcheck report \(not UTF-8"):
        load(binary)
    with pytest.raises(ReportLoadError, match=r"nope\.json: cannot read: No such file"):
        load(tmp_path / "nope.json")


def test_load_with_validation_lists_every_problem(sample_report: RunReport) -> None:
    # Given a saved report whose first endpoint lost its port and whose
    # DNS code is misspelt
    doc = json.loads(render(sample_report))
    del doc["endpoints"][0]["port"]
    doc["endpoints"][1]["dns"]["code"] = "dns.unexpected"
    # When it is loaded with validation
    with pytest.raises(ReportLoadError) as err:
        load(json.dumps(doc), validate=True)
    # Then both problems are named with their place
    message = str(err.value)
    assert message.startswith("<report>: invalid netcheck report: ")
    assert "$.endpoints[0]: 'port' is a required property" in message
    assert "$.endpoints[1].dns.code: 'dns.unexpected' is not one of" in message


def test_module_is_the_registered_json_renderer() -> None:
    # Given the renderer registry / When json is asked for / Then it is this module
    from netcheck.render import renderer

    assert renderer("json") is json_render.render


def test_c1_controls_are_escaped_but_the_data_is_kept(sample_report: RunReport) -> None:
    import dataclasses

    # Given a finding whose text carries a C1 control (CSI as one byte, U+009B)
    ep = sample_report.endpoints[0]
    weird = dataclasses.replace(ep, purpose="x\u009b31my")
    report = dataclasses.replace(sample_report, endpoints=(weird, *sample_report.endpoints[1:]))
    # When rendered / Then no raw C1 character is in the file, and it loads back equal
    text = render(report)
    assert "\u009b" not in text and "\\u009b" in text
    assert json.loads(text)["endpoints"][0]["purpose"] == "x\u009b31my"
