"""`make demo` keeps working: the real command, a smaller workload, a clean exit and
a report that says every check passed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_the_workload_and_every_check_passes(tmp_path):
    report = tmp_path / "report.html"
    result = subprocess.run(
        [sys.executable, "-m", "examples.demo", "--predictions", "300", "--report", str(report)],
        cwd=REPO, capture_output=True, text=True, timeout=900,
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
    html = report.read_text()
    assert 'data-plot="readmission-risk/volume"' in html
    # The report tells it too: glucose drifted most (PSI, last week against the first), and
    # precision and recall come from the labels
    psi = {name: float(value) for kind, name, value in
           re.findall(r'<tr class="(alarm|ok)"><td>([a-z_]+)</td><td>([0-9.e-]+)</td>', html) if kind}
    assert set(psi) == {"age", "bmi", "glucose", "prior_admissions"}, psi
    assert psi["glucose"] > 1 and psi["glucose"] == max(psi.values()), psi
    assert re.search(r"<th>precision</th><th>recall</th></tr><tr><td>1\.0\.0</td><td>\d+</td>", html)
    # The lineage graph: from the EHR's table, through the pipeline's jobs and the training run, to the endpoint
    lineage = re.search(r'<figure class="box" id="lineage".*?</figure>', html, re.S).group(0)
    for node in ("dataset postgres://ehr-db:5432/ehr.public.admissions", "job dbt/analytics.readmission_features",
                 "run train-2026-11-26-001", "dataset sagemaker/endpoint/readmission-risk-prod"):
        assert f"<title>{node}</title>" in lineage, node
    # A month's story: glucose drifts up in the last week, so both drift monitors (the last
    # two days against the week before, by occurred_at) are in ALARM, none without data
    monitors = [line.split() for line in result.stdout.splitlines() if line.startswith("  readmission-risk/")]
    assert {m[0]: m[1] for m in monitors} == {"readmission-risk/glucose-drift": "ALARM",
                                              "readmission-risk/score-drift": "ALARM"}
    assert all(float(m[3]) > 0.2 for m in monitors)
    # The day-12 incident: negative latencies break a fail rule, recorded, not refused
    assert "'fail': " in result.stdout
    # Progress during set-up, and no EMF metric line anywhere
    assert "creating the stack's resources" in result.stdout
    assert '"_aws"' not in result.stdout
    # After set-up, a short summary: at most 40 lines
    lines = result.stdout.rstrip().splitlines()
    after = len(lines) - 1 - next(i for i, line in enumerate(lines) if "the schedules..." in line)
    assert after <= 40, "\n".join(lines)
