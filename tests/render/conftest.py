"""Shared renderer fixtures: ``sample_report``, ``hostile_report`` and ``golden``.

The reports are built by ``tests/render/sample_reports.py`` (imported from
this folder, which pytest puts on ``sys.path`` because the tests have no
``__init__.py``).

Golden files live in ``tests/render/golden/``. After an intended change to a
renderer's output, refresh them and review the diff::

    NETCHECK_UPDATE_GOLDEN=1 .venv/bin/pytest tests/render
    git diff tests/render/golden
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sample_reports import hostile_report as _hostile_report
from sample_reports import sample_report as _sample_report

from netcheck.model import RunReport

GOLDEN_DIR = Path(__file__).parent / "golden"


@pytest.fixture
def sample_report() -> RunReport:
    return _sample_report()


@pytest.fixture
def hostile_report() -> RunReport:
    return _hostile_report()


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """``golden(name, text)``: assert ``text`` equals ``golden/<name>``, or
    rewrite that file when ``NETCHECK_UPDATE_GOLDEN=1``."""

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if os.environ.get("NETCHECK_UPDATE_GOLDEN") == "1":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
            return
        assert path.exists(), f"{path} missing: run NETCHECK_UPDATE_GOLDEN=1 pytest tests/render"
        expected = path.read_bytes().decode("utf-8")
        assert text == expected, (f"{name} differs from its golden file; if the change is "
                                  "intended, run NETCHECK_UPDATE_GOLDEN=1 pytest tests/render")

    return check
