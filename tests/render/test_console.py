"""Console renderer: the plain text is golden; colour and escaping on a terminal."""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console

from netcheck.model import RunReport
from netcheck.render import console


def _terminal(width: int = 160) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, color_system="truecolor", width=width,
                   height=50, legacy_windows=False, _environ={}), buf


def test_plain_render_matches_golden(sample_report: RunReport,
                                     golden: Callable[[str, str], None]) -> None:
    # Given the realistic sample run
    # When it is rendered as plain text
    text = console.render(sample_report)
    # Then it is exactly the reviewed golden file, with no escape sequence at all
    golden("console.txt", text)
    assert "\x1b" not in text


def test_plain_render_names_summary_failures_and_change_request(
        sample_report: RunReport) -> None:
    # Given the sample run
    # When rendered
    text = console.render(sample_report)
    # Then the summary, a failure's action and the shared change-request row are there
    assert "FAIL  2 pass, 2 warn, 8 fail, 0 skip" in text
    assert "Action: Allow outbound TCP 8021 to 169.63.160.148 (sml.moviuscorp.net)" in text
    assert "Allow rules to add" in text
    assert "Already fine: 2 endpoints (webclient-uk3, login-microsoft)" in text


def test_terminal_output_is_coloured(sample_report: RunReport) -> None:
    # Given a Console that is a terminal
    con, buf = _terminal()
    # When the report is printed
    console.print_report(sample_report, con)
    # Then statuses carry colour (SGR sequences)
    assert "\x1b[" in buf.getvalue()


def test_no_color_console_has_no_colour(sample_report: RunReport) -> None:
    # Given a terminal Console with NO_COLOR set (rich honours it)
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=True, width=160, _environ={"NO_COLOR": "1"},
                  legacy_windows=False)
    # When the report is printed
    console.print_report(sample_report, con)
    # Then no colour sequence is emitted (bold/underline may remain)
    out = buf.getvalue()
    assert "\x1b[31m" not in out and "\x1b[32m" not in out and "\x1b[38;" not in out
    assert "FAIL" in out


def test_hostile_text_is_literal_on_a_terminal(hostile_report: RunReport) -> None:
    # Given a report whose network strings carry markup, ANSI/OSC escapes and controls
    con, buf = _terminal(width=400)
    # When it is printed to a real terminal Console
    console.print_report(hostile_report, con)
    out = buf.getvalue()
    # Then the markup is shown literally, not interpreted ...
    assert "[bold red]x[/]" in out
    assert "<script>alert(1)</script>" in out
    # ... and none of the hostile sequences reach the terminal
    assert "\x1b]0;title" not in out and "\x07" not in out
    assert "\x1b[31mred" not in out
    for ch in ("\x00", "\x08", "\x7f", "\x9b"):
        assert ch not in out


def test_hostile_plain_render_has_no_control_characters(hostile_report: RunReport) -> None:
    # Given the hostile report
    # When rendered as plain text
    text = console.render(hostile_report)
    # Then no ESC or other control character survives, and long names are cut
    assert not any((ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in text)
    assert "x" * 400 not in text
    assert "[bold red]x[/]" in text


def test_summary_line_is_one_line(sample_report: RunReport) -> None:
    # Given a quiet run (-q)
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=False, width=200, _environ={})
    # When only the summary line is printed
    console.print_summary_line(sample_report, con)
    # Then it is one line with the status and counts
    assert buf.getvalue() == ("netcheck 0.1.0: FAIL  2 pass, 2 warn, 8 fail, 0 skip  "
                              "(12 endpoints in 6.0 s)\n")
