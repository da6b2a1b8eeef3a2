"""Markdown renderer: golden output and escaping of hostile text."""

from __future__ import annotations

import re
from collections.abc import Callable

from netcheck.model import RunReport
from netcheck.render import markdown


def test_markdown_matches_golden(sample_report: RunReport,
                                 golden: Callable[[str, str], None]) -> None:
    # Given the realistic sample run
    # When rendered as Markdown
    # Then it is exactly the reviewed golden file
    golden("report.md", markdown.render(sample_report))


def test_markdown_starts_with_context_then_change_request(sample_report: RunReport) -> None:
    # Given the sample run
    text = markdown.render(sample_report)
    # Then the context names the host, resolver, proxy and catalogue checksum first,
    # and the change request comes before the per-endpoint details
    context = text[: text.index("## Change request")]
    for fact in ("ws-0421.corp.example", "10.0.0.2", "http://proxy.corp.example:3128",
                 sample_report.catalog.sha256):
        assert fact in context
    assert text.index("## Change request") < text.index("## Endpoints")
    assert ("| 169.63.160.148 | 8021 | tcp | sml.moviuscorp.net<br>us.moviuscorp.net |"
            in text)


def _cells(line: str) -> list[str]:
    # Split a table row on unescaped pipes only, as GFM does.
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_hostile_markdown_is_escaped(hostile_report: RunReport) -> None:
    # Given a report whose strings carry HTML, markup, escapes, pipes and newlines
    text = markdown.render(hostile_report)
    # Then no raw HTML tag, escape or control character survives
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "\x1b" not in text
    assert not any((ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in text)
    # And brackets cannot form a link, and every table row keeps its column count
    assert "\\[bold red\\]x\\[/\\]" in text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("|---"):
            width = len(_cells(lines[i - 1]))
            j = i + 1
            while j < len(lines) and lines[j].startswith("| "):
                assert len(_cells(lines[j])) == width, lines[j][:200]
                j += 1


def test_escape_pipes_and_backticks() -> None:
    # Given text with a pipe, a backtick and an ampersand
    # When escaped for a table cell
    # Then each is neutralised
    assert markdown.escape("a|b`c&d") == "a\\|b\\`c&amp;d"
    assert markdown.code("x`y|z") == "`x'y/z`"
