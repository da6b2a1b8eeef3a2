"""The change request as CSV: one rule per row, for a spreadsheet or a ticket import.

Columns (stable): ``section,destination,port,protocol,hostnames,endpoints,
purposes,seen,codes,action``. Multi-valued cells are joined with ``"; "``.
Every cell is sanitised (no escape or control characters, no line breaks)
and made safe for spreadsheets: a cell starting with ``= + - @`` (or a tab
or carriage return) is prefixed with ``'`` so it is not run as a formula
(OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io

from netcheck import sanitize
from netcheck.changes import ChangeRow, build_change_request
from netcheck.model import RunReport

COLUMNS = ("section", "destination", "port", "protocol", "hostnames", "endpoints",
           "purposes", "seen", "codes", "action")
JOIN = "; "
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = sanitize.clean(value, max_len=None)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cells(row: ChangeRow) -> list[str]:
    return [safe_cell(v) for v in (
        row.section, row.destination, "" if row.port is None else row.port, row.protocol,
        JOIN.join(row.hostnames), JOIN.join(row.endpoints), JOIN.join(row.purposes),
        row.seen, JOIN.join(row.codes), row.action)]


def render(report: RunReport) -> str:
    buf = io.StringIO()
    # RFC 4180 line endings; quote only where needed so the file stays readable.
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for row in build_change_request(report).rows:
        writer.writerow(_cells(row))
    return buf.getvalue()
