"""`make demo` keeps working: the real command, a smaller workload, a clean exit and
a report that says every check passed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_the_workload_and_every_check_passes(tmp_path):
    report = tmp_path / "report.html"
    result = subprocess.run(
        [sys.executable, "-m", "examples.demo", "--predictions", "300", "--report", str(report)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "OK: every event stored once, every hash verifies" in result.stdout
    assert "OK: nothing altered, removed or added" in result.stdout
    assert "300 predictions" in result.stdout
    # One SageMaker training job captured with no code, its events among those stored once
    assert "training_started and training_completed captured" in result.stdout
    # It ends by writing the HTML report and printing where
    assert result.stdout.rstrip().splitlines()[-1] == f"HTML report (opens offline): {report.resolve()}"
    assert 'data-plot="readmission-risk/volume"' in report.read_text()
