"""The benchmark script still runs: every section at tiny size.

Nothing here is timed: the figures are only printed (and meaningless at
this size). What fails the test is the script itself breaking, or a run
whose targets end in other codes than the benchmark expects.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def test_bench_smoke_runs_every_section() -> None:
    # Given the benchmark script at its smoke size (nginx and blackbox_exporter
    # are used when installed and skipped, with a message, when not)
    # When it runs as a subprocess
    done = subprocess.run([sys.executable, str(BENCH), "--smoke"], capture_output=True,
                          text=True, timeout=60, check=False)
    # Then it exits 0 and prints every section and the end line
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    for heading in ("## 1. CPU per full chain", "## 2. Wall time with drops", "## 2b. Scale",
                    "## 3. Peak RSS", "## 4. Start-up", "benchmark done"):
        assert heading in done.stdout, heading
    assert "Traceback" not in done.stderr
