"""The editor schema (netcheck/schema/catalog.schema.json) agrees with the loader
on the built-in catalogue, the example, and the invalid files it can express."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
SCHEMA = json.loads((REPO / "netcheck" / "schema" / "catalog.schema.json").read_text())

# Invalid files whose problem the schema cannot express: a duplicate by one key
# across list items (names), or a YAML-level problem (syntax, a Python tag, a
# duplicated key, an impossible date) that stops yaml.safe_load before any schema.
NOT_EXPRESSIBLE = {"duplicate-name", "yaml-syntax", "yaml-tag", "duplicate-key", "bad-date"}
INVALID_RULES = sorted(p.name.removeprefix("invalid-").removesuffix(".yaml")
                       for p in HERE.glob("invalid-*.yaml"))


def _validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _errors(doc: Any) -> list[str]:
    return [e.message for e in _validator().iter_errors(doc)]


@pytest.mark.parametrize("path", [REPO / "endpoints.yaml", HERE / "lab-example.yaml"],
                         ids=["builtin", "lab-example"])
def test_schema_accepts_valid_catalogues(path: Path) -> None:
    # Given a catalogue the loader accepts
    doc = yaml.safe_load(path.read_text())
    # Then the editor schema accepts it too
    assert _errors(doc) == []


def test_not_expressible_rules_exist() -> None:
    assert set(INVALID_RULES) >= NOT_EXPRESSIBLE


@pytest.mark.parametrize("rule", [r for r in INVALID_RULES if r not in NOT_EXPRESSIBLE])
def test_schema_rejects_invalid_catalogues(rule: str) -> None:
    # Given an invalid catalogue
    doc = yaml.safe_load((HERE / f"invalid-{rule}.yaml").read_text())
    # Then the schema rejects it as well
    assert _errors(doc), rule


@pytest.mark.parametrize(("change", "expected"), [
    ({"colour": "blue"}, "Additional properties are not allowed ('colour' was unexpected)"),
    ({"port": 70000}, "70000 is greater than the maximum of 65535"),
    ({"probe": "icmp"}, "'icmp' is not one of ['wss', 'https', 'tls', 'tcp']"),
    ({"expected_ips": ["10.0.0.300"]}, "'10.0.0.300' is not valid under any of the given schemas"),
])
def test_schema_names_the_problem(change: dict[str, Any], expected: str) -> None:
    doc = {"version": 1, "endpoints": [
        {"name": "a", "host": "a.example.com", "port": 443, "probe": "https", **change}]}
    assert expected in _errors(doc)
