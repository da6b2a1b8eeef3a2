"""Shared renderer fixtures: ``sample_report`` and ``hostile_report``.

Built by ``tests/render/sample_reports.py`` (imported from this folder, which
pytest puts on ``sys.path`` because the tests have no ``__init__.py``).
"""

from __future__ import annotations

import pytest
from sample_reports import hostile_report as _hostile_report
from sample_reports import sample_report as _sample_report

from netcheck.model import RunReport


@pytest.fixture
def sample_report() -> RunReport:
    return _sample_report()


@pytest.fixture
def hostile_report() -> RunReport:
    return _hostile_report()
