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
    assert "three models' workload (30 days, backdated, 300 predictions each)" in result.stdout
    # One SageMaker training job captured with no code, its events among those stored once
    assert "training_started and training_completed captured" in result.stdout
    # It ends by writing the HTML report and printing where
    assert result.stdout.rstrip().splitlines()[-1] == f"HTML report (opens offline): {report.resolve()}"
    # Three models in the lake, the drifted one retrained (1.1.0) and redeployed, and in the report
    models = next(line for line in result.stdout.splitlines() if line.startswith("models (versions)"))
    for model in ("readmission-risk (1.0.0 1.1.0", "sepsis-alert (3.2.0)", "triage-acuity (2.0.1)"):
        assert model in models, models
    html = report.read_text()
    for model in ("readmission-risk", "sepsis-alert", "triage-acuity"):
        assert f'data-plot="{model}/volume"' in html, model
    readmission = re.search(r'data-panel="readmission-risk/quality".*?</section>', html, re.S).group(0)
    timeline = re.search(r'data-panel="readmission-risk/timeline".*?</section>', html, re.S).group(0)
    assert "<td>model_deployed</td><td>1.1.0</td>" in timeline
    # The report tells it too: glucose drifted most (PSI, last week against the first), and
    # precision and recall come from the labels, per version: accuracy fell, then the retrained one
    psi = {name: float(value) for kind, name, value in
           re.findall(r'<tr class="(alarm|ok)"><td>([a-z_]+)</td><td>([0-9.e-]+)</td>', readmission) if kind}
    assert set(psi) == {"age", "bmi", "glucose", "prior_admissions"}, psi
    assert psi["glucose"] > 1 and psi["glucose"] == max(psi.values()), psi
    assert re.search(r"<th>precision</th><th>recall</th></tr><tr><td>1\.0\.0</td><td>\d+</td>", readmission)
    assert re.search(r"</tr><tr><td>1\.1\.0</td><td>\d+</td>", readmission)
    # The lineage graph: from the EHR's table, through the pipeline's jobs and the training run, to the endpoint
    lineage = re.search(r'<figure class="box" id="lineage".*?</figure>', html, re.S).group(0)
    for node in ("dataset postgres://ehr-db:5432/ehr.public.admissions", "job dbt/analytics.readmission_features",
                 "run train-2026-11-26-001", "dataset sagemaker/endpoint/readmission-risk-prod"):
        assert f"<title>{node}</title>" in lineage, node
    # A month's story: glucose read higher every day from the third week, so the drifted model's
    # glucose monitor (the last two days against the week before, by occurred_at) is in ALARM;
    # the healthy models' monitors are OK, none without data
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("monitors (examples/demo_monitors.json)"))
    states = {line.split()[0]: line.split()[1] for line in lines[at + 1:at + 4]}
    assert states == {"readmission-risk": "ALARM", "sepsis-alert": "OK", "triage-acuity": "OK"}, lines[at:at + 4]
    assert "glucose-drift ALARM" in lines[at + 1]
    assert "ALARM" not in "".join(lines[at + 2:at + 4]) and "INSUFFICIENT_DATA" not in "".join(lines[at:at + 4])
    # The analyst's table: a row per model version
    rows = [line.split()[:2] for line in lines if line.startswith(("  readmission-risk ", "  sepsis-alert ",
                                                                  "  triage-acuity "))]
    assert [r for r in rows if r[1][0].isdigit()] == [["readmission-risk", "1.0.0"], ["readmission-risk", "1.1.0"],
                                                      ["sepsis-alert", "3.2.0"], ["triage-acuity", "2.0.1"]], rows
    # One subject's access, then erasure
    assert "3 events, 3 decrypted; DELETE 200: key destroyed; GET 404" in result.stdout
    # The day-12 incident: negative latencies break a fail rule, recorded, not refused
    assert "'fail': " in result.stdout
    # Progress during set-up, and no EMF metric line anywhere
    assert "creating the stack's resources" in result.stdout
    assert '"_aws"' not in result.stdout
    # After set-up, a short summary: at most 40 lines
    lines = result.stdout.rstrip().splitlines()
    after = len(lines) - 1 - next(i for i, line in enumerate(lines) if "the schedules..." in line)
    assert after <= 40, "\n".join(lines)
