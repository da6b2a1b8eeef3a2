"""The loopback lab, started once for the module that uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netcheck.lab import Lab, LabThread


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with LabThread() as running:
        yield running
