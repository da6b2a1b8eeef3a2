"""Suite-wide fixtures and rules.

* Proxy and trust-store variables from the developer's shell never leak into
  a test (a test that wants them sets them itself).
* Every test runs in a fresh temporary working directory, so nothing a test
  runs writes into the checkout (``reports/history.jsonl`` above all).
* Under ``CI=true`` nothing may be skipped: a skip there means CI failed to
  provide a facility (root, squid, chromium), which must fail the run.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

_ENV_VARS = (
    "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
    "NO_PROXY", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "NO_COLOR",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
                       ) -> None:
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under CI=true, which must provide everything: {reason}"
