"""CSV renderer: the change request one rule per row."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from netcheck.changes import build_change_request
from netcheck.model import RunReport
from netcheck.render import csv as csv_render


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_matches_golden(sample_report: RunReport,
                            golden: Callable[[str, str], None]) -> None:
    # Given the realistic sample run
    # When rendered as CSV
    # Then it is exactly the reviewed golden file
    golden("changes.csv", csv_render.render(sample_report))


def test_csv_header_and_one_rule_per_row(sample_report: RunReport) -> None:
    # Given the sample run
    text = csv_render.render(sample_report)
    # Then the header is the stable column list and there is one row per change
    assert text.split("\r\n", 1)[0] == ("section,destination,port,protocol,hostnames,"
                                        "endpoints,purposes,seen,codes,action")
    rows = _rows(text)
    assert len(rows) == len(build_change_request(sample_report).rows)
    shared = next(r for r in rows if r["destination"] == "169.63.160.148")
    assert shared["hostnames"] == "sml.moviuscorp.net; us.moviuscorp.net"
    assert shared["port"] == "8021" and shared["seen"] == "dropped"


def test_hostile_csv_parses_back_to_the_same_cells(hostile_report: RunReport) -> None:
    # Given a report with quotes, commas, newlines, controls and formulas in its strings
    text = csv_render.render(hostile_report)
    # When parsed back with the csv module
    rows = _rows(text)
    # Then each cell is the sanitised, formula-safe value of its row
    expected = build_change_request(hostile_report).rows
    assert len(rows) == len(expected)
    for parsed, row in zip(rows, expected, strict=True):
        assert parsed["destination"] == csv_render.safe_cell(row.destination)
        assert parsed["purposes"] == csv_render.safe_cell("; ".join(row.purposes))
        assert parsed["action"] == csv_render.safe_cell(row.action)
    assert any('"quoted", comma new line' in r["purposes"] for r in rows)
    # And no control character and no live formula reaches the file
    assert "\x1b" not in text and "\x00" not in text
    for r in rows:
        for cell in r.values():
            assert not cell.startswith(("=", "+", "-", "@")), cell


def test_formula_cells_are_quoted() -> None:
    # Given cells that a spreadsheet would run as formulas
    # Then each gets a leading quote; ordinary text is untouched
    assert csv_render.safe_cell("=1+1") == "'=1+1"
    assert csv_render.safe_cell("+cmd") == "'+cmd"
    assert csv_render.safe_cell("-2") == "'-2"
    assert csv_render.safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv_render.safe_cell("10.0.0.2") == "10.0.0.2"
