"""The JSON report (DESIGN.md "JSON report", a contract), and loading it back.

``render`` writes ``RunReport.to_dict()`` plus the firewall change request
under ``change_request``: the contract is extended, never renamed, so scripts
written against the bare document keep working. ``load`` reads a saved report
back into a ``RunReport`` so that ``netcheck report saved.json --format FMT``
can re-render any run; the change request is not loaded, because it is derived
from the rest and is rebuilt by whichever renderer needs it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from netcheck.changes import build_change_request
from netcheck.files import read_regular
from netcheck.model import SCHEMA_ID, RunReport


class ReportLoadError(ValueError):
    """A file that is not a readable netcheck report; the message says why, in one line."""


def to_document(report: RunReport) -> dict[str, Any]:
    """The report as the JSON document holds it, change request included."""
    doc = report.to_dict()
    # While netcheck.changes is being written it raises NotImplementedError;
    # the key is optional in the schema, so the report is still valid without it.
    with contextlib.suppress(NotImplementedError):
        doc["change_request"] = build_change_request(report).to_dict()
    return doc


def render(report: RunReport) -> str:
    # Key order is the contract's (insertion order of to_dict), which is fixed
    # by the code, so two runs with the same results serialise identically and
    # `netcheck diff` or a plain `diff` shows only what changed.
    text = json.dumps(to_document(report), indent=2, ensure_ascii=False, allow_nan=False)
    # C1 controls (U+0080-U+009F) are valid JSON but act as terminal escapes
    # when someone cats the file: escape them; the data stays identical.
    return text.translate(_C1_ESCAPES) + "\n"


MAX_REPORT_BYTES = 256 << 20  # a 10,000-endpoint report is tens of MiB
_C1_ESCAPES = {c: f"\\u{c:04x}" for c in range(0x80, 0xA0)}


def _read(source: str | os.PathLike[str]) -> tuple[str, str]:
    """(text, name for messages) of a path or of JSON text given directly."""
    if isinstance(source, str) and source.lstrip().startswith(("{", "[")):
        return source, "<report>"
    path = Path(source)
    try:
        data = read_regular(path, MAX_REPORT_BYTES)
        if len(data) > MAX_REPORT_BYTES:
            raise ReportLoadError(f"{path}: larger than {MAX_REPORT_BYTES >> 20} MiB: "
                                  "not a netcheck report")
        return data.decode("utf-8"), str(path)
    except UnicodeDecodeError as exc:
        raise ReportLoadError(f"{path}: not a netcheck report (not UTF-8 text: {exc.reason})"
                              ) from exc
    except OSError as exc:
        raise ReportLoadError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def load(source: str | os.PathLike[str], *, validate: bool = False) -> RunReport:
    """Read a saved JSON report: a path, or the JSON text itself.

    Raises :class:`ReportLoadError` with a one-line message for anything that
    is not a netcheck report of this schema version. With ``validate=True``
    the document is also checked against the full JSON Schema (this needs
    ``jsonschema``) and every problem is listed.
    """
    text, name = _read(source)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportLoadError(f"{name}: not a netcheck report (invalid JSON at line "
                              f"{exc.lineno} column {exc.colno}: {exc.msg})") from exc
    if not isinstance(doc, Mapping) or "schema" not in doc:
        raise ReportLoadError(f"{name}: not a netcheck report (no \"schema\": "
                              f"{SCHEMA_ID!r} key at the top level)")
    schema = doc["schema"]
    if schema != SCHEMA_ID:
        hint = (" (written by a newer netcheck?)"
                if isinstance(schema, str) and schema.startswith("netcheck.report/") else "")
        raise ReportLoadError(f"{name}: unsupported report schema {schema!r}{hint}; "
                              f"this netcheck reads {SCHEMA_ID!r}")
    if validate:
        from netcheck.reportschema import validate_report

        problems = validate_report(doc)
        if problems:
            raise ReportLoadError(f"{name}: invalid netcheck report: " + "; ".join(problems))
    try:
        return RunReport.from_dict(doc)
    except KeyError as exc:
        raise ReportLoadError(f"{name}: invalid netcheck report: missing field {exc}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise ReportLoadError(f"{name}: invalid netcheck report: {exc}") from exc
