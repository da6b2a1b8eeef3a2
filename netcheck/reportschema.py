"""The JSON Schema of the report (DESIGN.md "JSON report", a contract), and
validation against it.

The schema is generated from the code, so that it cannot drift from it: the
result codes come from :data:`netcheck.codes.CODES`, the statuses and
severities from :mod:`netcheck.codes`, the change-request sections from
:data:`netcheck.changes.SECTIONS`, the field list from
:meth:`netcheck.model.RunReport.to_dict`. The generated file is checked in as
``netcheck/schema/report.schema.json`` for scripts outside the package; a test
asserts that it equals :func:`build_schema`. After adding a code or a field,
regenerate it with::

    .venv/bin/python -m netcheck.reportschema > netcheck/schema/report.schema.json

Closed objects. Every object the report defines lists all its fields as
``required`` and has ``additionalProperties: false``: a producer that drops or
misspells a field fails validation instead of shipping a report that a
dashboard silently misreads. Only ``options`` (run settings, which grow with
the CLI) and each phase's ``data`` (phase-specific facts) are open. Adding a
field is still allowed by the contract ("extend, never rename or remove"):
the schema shipped with the version that adds it lists it, so a consumer
validates a report with the schema of the same netcheck version or a newer
one. ``change_request`` (added by the JSON renderer, see
:mod:`netcheck.render.json`) is the one optional top-level key, because
``RunReport.to_dict()`` alone does not carry it.

``jsonschema`` is imported only when :func:`validate_report` runs, so the rest
of the package does not need it.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from netcheck import changes, codes, diff
from netcheck.model import SCHEMA_ID

SCHEMA_URI = "https://netcheck.invalid/schema/report-1.schema.json"
SCHEMA_RESOURCE = "schema/report.schema.json"

STATUSES: tuple[str, ...] = ("pass", "warn", "fail", "skip")
SEVERITIES: tuple[str, ...] = ("info", "warn", "fail")
PROBES: tuple[str, ...] = ("wss", "https", "tls", "tcp")
TARGET_SOURCES: tuple[str, ...] = ("resolved", "expected", "both", "proxy")
TARGETS_OPTION: tuple[str, ...] = ("both", "resolved", "expected")

# A phase's name and the prefix of its codes differ for the two application
# phases ("websocket" yields ws.*, "https" yields http.*).
PHASE_CODE_PREFIX: Mapping[str, str] = {
    "tcp": "tcp",
    "proxy": "proxy",
    "tls": "tls",
    "websocket": "ws",
    "https": "http",
}

# Codes after which the TLS phase has seen the server's certificate, so its
# data must carry the certificate facts (DESIGN.md, "JSON report").
TLS_CERT_SEEN_CODES: tuple[str, ...] = (
    "tls.ok", "tls.intercepted", "tls.untrusted", "tls.hostname_mismatch",
    "tls.expired", "tls.not_yet_valid", "tls.expiring_soon",
)
TLS_CERT_FIELDS: tuple[str, ...] = (
    "version", "cipher", "subject", "issuer", "san", "not_after", "sha256",
)


# Fields added to the contract after DESIGN.md's first report: a report
# written without them (an older netcheck, a DESIGN-shaped document) is still
# valid, because the contract changes only by adding. Everything else is
# required, so a field removed or misspelt is caught.
ADDED_FIELDS: tuple[str, ...] = ("purpose", "python", "environment", "since_last_run",
                                 "change_request")


def _closed(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly these fields, all required except ``optional``."""
    return {
        "type": "object",
        "properties": properties,
        "required": [k for k in properties if k not in optional],
        "additionalProperties": False,
    }


def _codes_of(prefix: str) -> list[str]:
    return sorted(c for c in codes.CODES if c.split(".", 1)[0] == prefix)


def _str_array() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}}


def _phase_rules() -> list[dict[str, Any]]:
    """Per phase: which codes it may carry; for TLS, the certificate facts."""
    rules: list[dict[str, Any]] = []
    for phase, prefix in PHASE_CODE_PREFIX.items():
        rules.append({
            "if": {"properties": {"phase": {"const": phase}}},
            "then": {"properties": {"code": {"enum": [*_codes_of(prefix), "skipped"]}}},
        })
    rules.append({
        "if": {"properties": {"phase": {"const": "tls"},
                              "code": {"enum": list(TLS_CERT_SEEN_CODES)}}},
        "then": {"properties": {"data": {"required": list(TLS_CERT_FIELDS)}}},
    })
    return rules


def build_schema() -> dict[str, Any]:
    """The report's JSON Schema (draft 2020-12), generated from the code."""
    status = {"$ref": "#/$defs/status"}
    duration = {"type": "number", "minimum": 0}
    ip = {"type": ["string", "null"]}
    port = {"type": "integer", "minimum": 1, "maximum": 65535}
    phase_result = _closed({
        "phase": {"enum": list(PHASE_CODE_PREFIX)},
        "status": status,
        "code": {"$ref": "#/$defs/code"},
        "duration_ms": duration,
        "detail": {"type": "string"},
        "data": {"type": "object"},
    })
    phase_result["allOf"] = _phase_rules()
    dns = _closed({
        "phase": {"const": "dns"},
        "status": status,
        "code": {"enum": [*_codes_of("dns"), "skipped"]},
        "duration_ms": duration,
        "addresses": _str_array(),
        "expected_ips": _str_array(),
        "unexpected": _str_array(),
        "missing": _str_array(),
        "detail": {"type": "string"},
        "data": {"type": "object"},
    })
    target = _closed({
        "ip": ip,
        "source": {"enum": list(TARGET_SOURCES)},
        "status": status,
        "phases": {"type": "array", "items": {"$ref": "#/$defs/phase_result"}},
    })
    finding = _closed({
        "code": {"enum": sorted(c.code for c in codes.CODES.values() if c.severity)},
        "severity": {"enum": list(SEVERITIES)},
        "endpoint": {"type": "string"},
        "host": {"type": "string"},
        "ip": ip,
        "port": port,
        "summary": {"type": "string"},
        "action": {"type": "string"},
    })
    endpoint = _closed({
        "name": {"type": "string", "pattern": "^[a-z0-9._-]+$"},
        "host": {"type": "string"},
        "port": port,
        "probe": {"enum": list(PROBES)},
        "required": {"type": "boolean"},
        "tags": _str_array(),
        "purpose": {"type": "string"},
        "status": status,
        "dns": {"$ref": "#/$defs/dns"},
        "targets": {"type": "array", "items": {"$ref": "#/$defs/target"}},
        "findings": {"type": "array", "items": {"$ref": "#/$defs/finding"}},
    }, optional=ADDED_FIELDS)
    change_row = _closed({
        "section": {"enum": list(changes.SECTIONS)},
        "destination": {"type": "string"},
        "port": {"oneOf": [port, {"type": "null"}]},
        "protocol": {"type": "string"},
        "hostnames": _str_array(),
        "endpoints": _str_array(),
        "purposes": _str_array(),
        "seen": {"type": "string"},
        "codes": {"type": "array", "items": {"$ref": "#/$defs/code"}},
        "action": {"type": "string"},
    })
    rows = {"type": "array", "items": {"$ref": "#/$defs/change_row"}}
    change_request = _closed({
        **{section: rows for section in changes.SECTIONS},
        "already_fine": {"type": "integer", "minimum": 0},
        "fine_endpoints": _str_array(),
    })
    count = {"type": "integer", "minimum": 0}
    options = {
        "type": "object",
        "properties": {
            "timeout": {"type": ["number", "null"], "exclusiveMinimum": 0},
            "targets": {"enum": list(TARGETS_OPTION)},
            "concurrency": {"type": "integer", "minimum": 1},
        },
        "required": ["timeout", "targets", "concurrency"],
    }
    top = _closed({
        "schema": {"const": SCHEMA_ID},
        "tool": _closed({"name": {"const": "netcheck"}, "version": {"type": "string"}}),
        "started_at": {"$ref": "#/$defs/timestamp"},
        "finished_at": {"$ref": "#/$defs/timestamp"},
        "duration_ms": duration,
        "interrupted": {"type": "boolean"},
        "host": _closed({
            "hostname": {"type": "string"},
            "platform": {"type": "string"},
            "python": {"type": "string"},
            "resolvers": _str_array(),
            "proxy": {"type": ["string", "null"]},
            "environment": {"type": "object"},
        }, optional=ADDED_FIELDS),
        "catalog": _closed({
            "source": {"type": "string"},
            "sha256": {"type": "string"},
            "endpoints": count,
        }),
        "options": options,
        "summary": _closed({
            "status": status, "pass": count, "warn": count, "fail": count, "skip": count,
        }),
        "endpoints": {"type": "array", "items": {"$ref": "#/$defs/endpoint"}},
        "findings": {"type": "array", "items": {"$ref": "#/$defs/finding"}},
        "change_request": {"$ref": "#/$defs/change_request"},
        "since_last_run": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/since_last_run"}]},
    }, optional=ADDED_FIELDS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_URI,
        "title": f"netcheck report ({SCHEMA_ID})",
        "description": "Generated by netcheck.reportschema.build_schema(); do not edit by hand.",
        **top,
        "$defs": {
            "status": {"enum": list(STATUSES)},
            "code": {"enum": sorted(codes.CODES)},
            # RFC 3339 in UTC with a "Z", as the model writes it.
            "timestamp": {"type": "string",
                          "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"},
            "phase_result": phase_result,
            "dns": dns,
            "target": target,
            "finding": finding,
            "endpoint": endpoint,
            "change_row": change_row,
            "change_request": change_request,
            # What changed since the last comparable run (netcheck.diff).
            "since_last_run": diff.json_schema(),
        },
    }


def schema_text(schema: Mapping[str, Any] | None = None) -> str:
    """The schema as the checked-in file holds it."""
    return json.dumps(schema if schema is not None else build_schema(),
                      indent=2, ensure_ascii=False) + "\n"


def load_schema() -> dict[str, Any]:
    """The schema file shipped in the package."""
    text = resources.files("netcheck").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> Any:
    # Built from the code rather than read from the file: while a new code is
    # being added, the code is the truth and the file test points at the fix.
    # Imported lazily (jsonschema is only a test dependency today), and through
    # importlib because it ships no type information.
    jsonschema = importlib.import_module("jsonschema")
    schema = build_schema()
    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema)
    return cls(schema)


def _place(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate_report(doc: Mapping[str, Any]) -> list[str]:
    """Every way ``doc`` departs from the schema, each with its place
    (``$.endpoints[0].dns.code: 'dns.okk' is not one of [...]``); empty when valid.
    """
    errors = sorted(_validator().iter_errors(doc),
                    key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [f"{_place(e.absolute_path)}: {e.message}" for e in errors]


def main() -> int:
    sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
