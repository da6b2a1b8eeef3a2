"""The report's JSON Schema: generated from the code, checked in, and strict.

The checked-in file must equal what the code generates; after adding a code
or a field, regenerate it with::

    .venv/bin/python -m netcheck.reportschema > netcheck/schema/report.schema.json
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netcheck import codes, reportschema
from netcheck.model import (
    CatalogInfo,
    DnsResult,
    EndpointResult,
    Finding,
    HostInfo,
    PhaseResult,
    RunReport,
    Summary,
    TargetResult,
    skipped,
)
from netcheck.render.json import to_document

SCHEMA_FILE = Path(reportschema.__file__).parent / "schema" / "report.schema.json"


def _report() -> RunReport:
    """The smallest report that holds one of every object the schema defines."""
    tls_data = {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
                "subject": "CN=sml.lab.netcheck.test", "issuer": "CN=lab CA",
                "san": ["sml.lab.netcheck.test"], "not_after": "2027-01-01T00:00:00Z",
                "sha256": "ab" * 32}
    finding = Finding(code="tcp.timeout", severity="fail", endpoint="sml",
                      host="sml.lab.netcheck.test", ip="127.0.0.2", port=8021,
                      summary=codes.get("tcp.timeout").meaning,
                      action=codes.render_action("tcp.timeout", {
                          "port": 8021, "ip": "127.0.0.2", "host": "sml.lab.netcheck.test"}))
    endpoint = EndpointResult(
        name="sml", host="sml.lab.netcheck.test", port=8021, probe="https", required=True,
        tags=("https",), status="fail", purpose="Messaging API",
        dns=DnsResult(status="pass", code="dns.ok", duration_ms=1.5, detail="Resolved.",
                      addresses=("127.0.0.1",), expected_ips=("127.0.0.1", "127.0.0.2"),
                      missing=("127.0.0.2",), data={"resolvers": []}),
        targets=(
            TargetResult(ip="127.0.0.1", source="both", status="pass", phases=(
                PhaseResult("tcp", "pass", "tcp.ok", 1.0, "Connected."),
                PhaseResult("tls", "pass", "tls.ok", 2.0, "Verified.", tls_data),
                PhaseResult("https", "pass", "http.ok", 3.0, "GET / answered 200.",
                            {"status": 200}))),
            TargetResult(ip="127.0.0.2", source="expected", status="fail", phases=(
                PhaseResult("tcp", "fail", "tcp.timeout", 500.0, "No answer."),
                skipped("tls"), skipped("https")))),
        findings=(finding,))
    return RunReport(
        tool_version="0.1.0", started_at="2026-12-04T10:00:00Z",
        finished_at="2026-12-04T10:00:01.250Z", duration_ms=1250.0, interrupted=False,
        host=HostInfo(hostname="lab", platform="Linux", python="3.11",
                      resolvers=("127.0.0.1",), proxy=None),
        catalog=CatalogInfo(source="endpoints.yaml", sha256="0" * 64, endpoints=1),
        options={"timeout": 0.5, "targets": "both", "concurrency": 4},
        summary=Summary(status="fail", failed=1), endpoints=(endpoint,))


def _key_paths(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key of every object in the document, except inside the open
    objects (a phase's ``data``; ``options`` beyond its three contract keys)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if path and path[-1] == "options" and key not in ("timeout", "targets",
                                                              "concurrency"):
                continue
            yield (*path, key)
            if key != "data":
                yield from _key_paths(value, (*path, key))
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from _key_paths(item, (*path, i))


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def test_checked_in_schema_is_the_generated_one() -> None:
    # Given the schema generated from codes.py and model.py
    generated = reportschema.schema_text()
    # When it is compared with the file the package ships
    shipped = SCHEMA_FILE.read_text(encoding="utf-8")
    # Then they are identical (regenerate: python -m netcheck.reportschema > ...)
    assert shipped == generated, (
        "netcheck/schema/report.schema.json is stale; run "
        "`.venv/bin/python -m netcheck.reportschema > netcheck/schema/report.schema.json`")
    assert reportschema.load_schema() == reportschema.build_schema()


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema = importlib.import_module("jsonschema")  # ships no type information
    # Given the generated schema / When it is checked against the metaschema
    # Then it is valid
    jsonschema.Draft202012Validator.check_schema(reportschema.build_schema())


def test_schema_code_enum_is_every_code_in_the_table() -> None:
    # Given the codes table / When the schema is built
    schema = reportschema.build_schema()
    # Then the code enum is exactly the table's keys, nothing invented or missing
    assert set(schema["$defs"]["code"]["enum"]) == set(codes.CODES)


def test_a_valid_report_validates() -> None:
    # Given a report built from the model
    doc = _report().to_dict()
    # When it is validated
    problems = reportschema.validate_report(doc)
    # Then there is nothing to report
    assert problems == []


def _document() -> dict[str, Any]:
    """The report as the JSON renderer writes it (with the change request)."""
    return to_document(_report())


def test_the_document_with_its_change_request_validates() -> None:
    # Given the JSON document of a failing run (so with an allow rule)
    doc = _document()
    assert doc["change_request"]["allow"]
    # When it is validated / Then it is valid
    assert reportschema.validate_report(doc) == []


# change_request itself is optional: RunReport.to_dict() alone has no such key.
def test_a_report_without_the_added_fields_is_valid_and_loads() -> None:
    # Given a report shaped as DESIGN.md's first draft: none of the additions
    doc = _document()
    doc.pop("since_last_run", None)
    del doc["host"]["python"], doc["host"]["environment"]
    for ep in doc["endpoints"]:
        del ep["purpose"]
    # Then it is still a valid report, and loads
    assert reportschema.validate_report(doc) == []
    assert RunReport.from_dict(doc).endpoints[0].purpose == ""


@pytest.mark.parametrize("path", [p for p in _key_paths(_document())
                                  if p[-1] not in reportschema.ADDED_FIELDS],
                         ids=lambda p: ".".join(map(str, p)))
def test_removing_any_field_fails(path: tuple[Any, ...]) -> None:
    # Given a valid report with one field removed
    doc = _document()
    del _at(doc, path[:-1])[path[-1]]
    # When it is validated
    problems = reportschema.validate_report(doc)
    # Then the schema names the missing field
    assert any(repr(path[-1]) in p and "required" in p for p in problems), problems


@pytest.mark.parametrize("path", [
    ("endpoints", 0, "dns", "code"),
    ("endpoints", 0, "targets", 1, "phases", 0, "code"),
    ("endpoints", 0, "findings", 0, "code"),
    ("findings", 0, "code"),
], ids=lambda p: ".".join(map(str, p)))
def test_a_misspelt_code_fails(path: tuple[Any, ...]) -> None:
    # Given a report whose code is misspelt
    doc = copy.deepcopy(_report().to_dict())
    parent = _at(doc, path[:-1])
    parent["code"] = parent["code"].replace(".", "_")  # tcp.timeout -> tcp_timeout
    # When it is validated
    problems = reportschema.validate_report(doc)
    # Then the problem is placed at that code
    place = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    assert any(p.startswith(place + ":") for p in problems), problems


def test_a_code_from_another_phase_fails() -> None:
    # Given a tcp phase carrying a TLS code
    doc = _report().to_dict()
    doc["endpoints"][0]["targets"][0]["phases"][0]["code"] = "tls.ok"
    # When it is validated / Then the schema rejects it
    assert any("phases[0].code" in p for p in reportschema.validate_report(doc))


def test_an_added_field_fails() -> None:
    # Given a phase result with a misspelt extra field (a producer's typo)
    doc = _report().to_dict()
    doc["endpoints"][0]["targets"][0]["phases"][0]["duraton_ms"] = 1.0
    # When it is validated / Then the extra field is named
    problems = reportschema.validate_report(doc)
    assert any("duraton_ms" in p for p in problems), problems


def test_open_objects_accept_new_keys() -> None:
    # Given new phase facts and a new run option (both open by design)
    doc = _report().to_dict()
    doc["endpoints"][0]["targets"][0]["phases"][0]["data"]["local_port"] = 50000
    doc["options"]["strict"] = True
    # When it is validated / Then it is valid
    assert reportschema.validate_report(doc) == []


def test_tls_data_must_carry_the_certificate_facts() -> None:
    # Given a verified TLS phase whose data lost the leaf fingerprint
    doc = _report().to_dict()
    del doc["endpoints"][0]["targets"][0]["phases"][1]["data"]["sha256"]
    # When it is validated / Then the missing fact is named
    problems = reportschema.validate_report(doc)
    assert any("'sha256' is a required property" in p for p in problems), problems


@pytest.mark.parametrize("field,value", [
    ("status", "ok"), ("started_at", "2026-12-04 10:00:00"), ("schema", "netcheck.report/2"),
])
def test_wrong_values_fail(field: str, value: str) -> None:
    # Given a report with a wrong top-level value
    doc = _report().to_dict()
    if field == "status":
        doc["summary"]["status"] = value
    else:
        doc[field] = value
    # When it is validated / Then it fails
    assert reportschema.validate_report(doc)


def test_schema_module_prints_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the regenerate command / When it runs
    assert reportschema.main() == 0
    # Then it prints exactly the checked-in file, as valid JSON
    out = capsys.readouterr().out
    assert out == SCHEMA_FILE.read_text(encoding="utf-8")
    assert json.loads(out)["$schema"].endswith("2020-12/schema")
