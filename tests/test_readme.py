"""The README stays true to the code: every result code is documented, and
the quick start has exactly the two commands CI relies on."""

from __future__ import annotations

import re
from pathlib import Path

from netcheck import codes

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_result_code_is_documented() -> None:
    missing = [c for c in codes.CODES if c != "skipped" and f"`{c}`" not in README]
    assert missing == []


def test_quick_start_is_two_commands() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[0].endswith("netcheck run")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "<!-- test-command -->" in ci
    marked = README.split("<!-- test-command -->", 1)[1].split("<!-- /test-command -->", 1)[0]
    assert "pytest" in marked
