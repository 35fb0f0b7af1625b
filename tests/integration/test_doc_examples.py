"""Every code example in README.md and docs/ runs, as written, against the local stack, and
what it sends is stored with no data-quality violation.

`EXAMPLES` names each fenced block of those files (by its file and first line) and says
how it is run here, or why it is not code to run (a diagram, the shape of an answer) or
cannot run on this machine (Spark, Airflow). A block it does not name fails
`test_every_block_is_run_or_says_why_not`, so a new example cannot go untested. Values an
example leaves to the reader (`<token>`, a deployment's URL, `model`, `X`) are filled in
with the local stack's and a small model's; the code itself is run as it is written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import yaml
from mlaudit.layout import parse_partition
from mlaudit.parquet import read_parquet_bytes
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from sklearn.linear_model import LogisticRegression

from local import client
from tests.integration.helpers import drained

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
DEPLOYED_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/"


@dataclass(frozen=True)
class Block:
    doc: str  # path from the repository root
    line: int
    lang: str
    code: str

    @property
    def key(self) -> tuple[str, str]:
        return self.doc, self.code.strip().splitlines()[0].strip()


def blocks() -> list[Block]:
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            found.append(Block(str(path.relative_to(REPO)), text[: match.start()].count("\n") + 1, match.group(1),
                               match.group(2)))
    return found


def block(doc: str, first_line: str) -> Block:
    """The one block of `doc` whose first line starts with `first_line`."""
    (found,) = [b for b in blocks() if b.doc == doc and b.key[1].startswith(first_line)]
    return found


# (file, start of the first line) -> how it runs ("run: <test>") or why it does not ("not code: ..." /
# "not run: ...").
EXAMPLES: dict[tuple[str, str], str] = {
    ("README.md", "make demo   # start the whole stack"):
        "run: tests/integration/test_demo.py (make demo); make test is the suite itself",
    ("README.md", "workload ──HTTPS + token──▶ API Gateway"):
        "not code: a diagram",
    ("README.md", "from mlaudit_client import Auditor"): "run: test_readme_sdk_examples",
    ("README.md", "with audit.training_run("):
        "run: test_readme_sdk_examples",
    ("docs/client.md", "import time"): "run: test_client_md_examples",
    ("docs/client.md", "from sklearn.metrics import roc_auc_score"): "run: test_client_md_examples",
    ("docs/client.md", "from mlaudit_client.integrations import audited"):
        "run: test_client_md_integrations_example",
    ("docs/integrity.md", "event_id schema_version event_type"): "not code: the leaf record's field order",
    ("docs/integrity.md", "leaf_hash = H(0x00 ‖ canonical)"): "not code: a formula",
    ("docs/integrity.md", 'MTH({})'):
        "not code: RFC 9162's definitions",
    ("docs/integrity.md", '{"first_event_id"'):
        "not code: a stored object's shape, abridged",
    ("docs/integrity.md", '{"appended_at"'):
        "not code: a stored object's shape, abridged",
    ("docs/integrity.md", '{"checkpoint":{"key_id"'): "not code: a stored object's shape, abridged",
    ("docs/integrity.md", '{"event_id":"…","object_key"'):
        "not code: an answer's shape, abridged",
    ("docs/integrity.md", "mlaudit-verify --bucket <audit bucket> \\"):
        "run: test_verify_example",
    ("docs/lineage.md", 'TOKEN=$(curl'):
        "run: test_token_and_environment_examples",
    ("docs/lineage.md", "transport:"): "run: test_openlineage_yml_examples",
    ("docs/lineage.md", "from openlineage.client import OpenLineageClient"): "run: test_openlineage_python_example",
    ("docs/lineage.md", "auth:"): "run: test_openlineage_yml_examples",
    ("docs/lineage.md", "[openlineage]"): "run: test_airflow_transport_example (its transport JSON; no Airflow here)",
    ("docs/lineage.md", "spark-submit \\"): "not run: needs Spark and a JVM (the same HTTP route and token as "
                                            "openlineage-python's, which run)",
    ("docs/lineage.md", "export OPENLINEAGE_URL="):
        "run: test_token_and_environment_examples (the variables; openlineage-python reads them as dbt-ol does)",
    ("docs/lineage.md", "python -m cli import scores.jsonl"):
        "run: test_import_example (the local stack's line)",
    ("docs/lineage.md", '{"report_version": 1'): "not code: an answer's shape, abridged",
    ("docs/monitoring.md", '{"version": 1, "models"'):
        "run: test_monitors_file_example",
    ("docs/queries.md", "from local.athena import DuckDbEngine, S3Lake"): "run: test_local_engine_example",
    ("docs/monitoring.md", "openapi-python-client generate"):
        "run: tests/integration/test_generated_client.py (the same command, then the client against the stack)",
    ("docs/capture.md", "aws bedrock put-model-invocation-logging-configuration"):
        "not run: configures a real account's Bedrock (the local stack has none); the log records it delivers "
        "are imported in tests/integration/test_capture.py",
    ("docs/client.md", "from mlaudit_client.integrations.lightning import MlauditCallback"):
        "run: tests/client/test_training_callbacks.py (the callback in a Lightning fit of a tiny model)",
    ("docs/compaction.md", "mlaudit compact [--config"):
        "not code: the command's synopsis; tests/integration/test_compaction_local.py runs it",
    ("docs/integrity.md", "ingest: events ──leaf v1──▶"): "not code: a diagram",
    ("docs/integrity.md", '"replaces": {"count"'): "not code: a log entry's field, abridged",
}


def test_every_block_is_run_or_says_why_not():
    found = blocks()
    named = {key: [b for b in found if b.doc == key[0] and b.key[1].startswith(key[1])] for key in EXAMPLES}
    unnamed = [f"{b.doc}:{b.line} {b.key[1]!r}" for b in found if not any(b in bs for bs in named.values())]
    assert not unnamed, "code examples with no test (add each to EXAMPLES):\n" + "\n".join(unnamed)
    assert all(len(bs) == 1 for bs in named.values()), {k: len(bs) for k, bs in named.items() if len(bs) != 1}
    tests = set(globals())
    for key, how in EXAMPLES.items():
        if how.startswith("run: test_"):
            assert how.split()[1] in tests, (key, how)
        else:
            assert how.startswith(("run: tests/", "not code: ", "not run: ")), (key, how)


# --- reading back what the examples sent ------------------------------------------------


def stored_rows(config: dict[str, Any], since: float, keep: Callable[[dict[str, Any]], bool]) -> list[dict]:
    """The rows `keep` selects, of the files written since `since`, once the writer drained."""
    drained(config)
    s3 = client.aws_client(config, "s3")
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config["bucket"], Prefix="events/"):
        for item in page.get("Contents", []):
            if item["LastModified"].timestamp() < since - 5:  # clock margin
                continue
            _, event_type = parse_partition(item["Key"])
            body = s3.get_object(Bucket=config["bucket"], Key=item["Key"])["Body"].read()
            rows += [{**row, "event_type": event_type} for row in read_parquet_bytes(body).to_pylist() if keep(row)]
    return rows


def assert_clean(rows: list[dict[str, Any]]) -> None:
    broken = [(r["event_type"], r["dq_status"], r["dq_violations"]) for r in rows if r["dq_status"] != "pass"]
    assert not broken, f"data-quality violations: {broken}"


@pytest.fixture
def sdk(local_stack, tmp_path, monkeypatch) -> Iterator[list[str]]:
    """The SDK's settings from the environment, as the docs say, pointed at the local stack;
    yields the ids of the events every Auditor emits, and closes each at the end."""
    machine = local_stack["machine_client"]
    for name, value in {"API_URL": local_stack["api_url"], "TOKEN_URL": local_stack["token_url"],
                        "CLIENT_ID": machine["client_id"], "CLIENT_SECRET": machine["client_secret"],
                        "SPOOL_DIR": str(tmp_path / "spool"), "FLUSH_INTERVAL": "0.2", "TIMEOUT": "120"}.items():
        monkeypatch.setenv(f"MLAUDIT_{name}", value)
    from mlaudit_client import auditor

    ids: list[str] = []
    made: list[Any] = []
    emit, init = auditor.Auditor.emit, auditor.Auditor.__init__

    def recording_emit(self, event):
        event_id = emit(self, event)
        assert event_id is not None, f"the SDK refused an example's event: {event}"
        ids.append(event_id)
        return event_id

    def recording_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(auditor.Auditor, "emit", recording_emit)
    monkeypatch.setattr(auditor.Auditor, "__init__", recording_init)
    yield ids
    for audit in made:
        audit.close(120)


def sent_and_clean(config: dict[str, Any], since: float, ids: list[str]) -> list[dict[str, Any]]:
    wanted = set(ids)
    rows = stored_rows(config, since, lambda row: row["event_id"] in wanted)
    assert sorted(r["event_id"] for r in rows) == sorted(wanted), "every event the example emitted is stored once"
    assert_clean(rows)
    return rows


def small_model() -> tuple[LogisticRegression, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(26)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return LogisticRegression().fit(X, y), X, y


def run_python(code: str, namespace: dict[str, Any]) -> dict[str, Any]:
    exec(compile(code, "<doc example>", "exec"), namespace)  # noqa: S102 - the docs' own examples
    return namespace


# --- the SDK ------------------------------------------------------------------------------


def test_readme_sdk_examples(local_stack, sdk):
    since = time.time()
    model, X, y = small_model()
    names = run_python(block("README.md", "from mlaudit_client import Auditor").code, {"model": model})
    names["predict"]({"tenure": 3.0, "charges": 70.5, "calls": 1.0})
    run_python(block("README.md", "with audit.training_run(").code,
               {**names, "X": X, "y": y, "auc": 0.91})
    assert names["audit"].flush(120)
    rows = sent_and_clean(local_stack, since, sdk)
    assert sorted(r["event_type"] for r in rows) == [
        "model_registered", "prediction", "training_completed", "training_started"]


def test_client_md_examples(local_stack, sdk):
    since = time.time()
    model, X, y = small_model()
    names = run_python(block("docs/client.md", "import time").code, {"model": model})
    prediction_id = names["audit"].prediction("churn", "7", score=0.4)  # as the text after the example says:
    names["audit"].ground_truth(prediction_id, "stayed", model_id="churn", model_version="7")
    names["predict"]({"tenure": 3.0, "charges": 70.5, "calls": 1.0})
    run_python(block("docs/client.md", "from sklearn.metrics import roc_auc_score").code,
               {**names, "X": X, "y": y, "X_test": X[:50], "y_test": y[:50]})
    assert names["audit"].flush(120)
    rows = sent_and_clean(local_stack, since, sdk)
    assert sorted(r["event_type"] for r in rows) == [
        "ground_truth", "model_deployed", "model_registered", "prediction", "prediction", "training_completed",
        "training_started"]


def test_client_md_integrations_example(local_stack, sdk, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow-skinny: a file store, no server
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    since = time.time()
    model, X, _ = small_model()
    from mlaudit_client import Auditor

    audit = Auditor()
    names = run_python(block("docs/client.md", "from mlaudit_client.integrations import audited").code,
                       {"audit": audit, "fitted_estimator": model, "X": X[:3], "request_ids": ["r1", "r2", "r3"]})
    names["score"]({"age": 71, "visits": 3})
    assert audit.flush(120)
    rows = sent_and_clean(local_stack, since, sdk)
    kinds = sorted(r["event_type"] for r in rows)
    # score() once, and predict_proba's 3 rows when its call was in the example's 10% sample
    assert kinds.count("prediction") in (1, 4) and {"training_started", "training_completed"} <= set(kinds), kinds


# --- OpenLineage ------------------------------------------------------------------------


def lineage_run(client_: OpenLineageClient) -> str:
    """A START and a COMPLETE of a job that reads one dataset and writes another."""
    run_id = str(uuid.uuid4())
    namespace = f"docs-{run_id[:8]}"
    job = Job(namespace=namespace, name="features.build")
    for state in (RunState.START, RunState.COMPLETE):
        client_.emit(RunEvent(eventType=state, eventTime=datetime.now(UTC).isoformat(), run=Run(runId=run_id),
                              job=job, inputs=[InputDataset(namespace=namespace, name="raw")],
                              outputs=[OutputDataset(namespace=namespace, name="features")]))
    return run_id


def stored_runs(config: dict[str, Any], since: float, run_ids: list[str]) -> None:
    rows = stored_rows(config, since, lambda row: row["run_id"] in run_ids)
    assert sorted(r["run_id"] for r in rows) == sorted(run_ids * 2), "a START and a COMPLETE for each run, once"
    assert_clean(rows)


def test_openlineage_python_example(local_stack):
    since = time.time()
    token = client.machine_token(local_stack, ["lineage.write"])
    names = run_python(block("docs/lineage.md", "from openlineage.client import OpenLineageClient").code,
                       {"api_url": local_stack["api_url"] + "/", "token": token})  # the trailing / the text asks for
    stored_runs(local_stack, since, [lineage_run(names["client"])])


def local_yml(text: str, config: dict[str, Any], values: dict[str, str]) -> str:
    text = text.replace(DEPLOYED_URL, config["api_url"] + "/")
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    assert "<" not in text, f"a placeholder left: {text}"
    return text


def test_openlineage_yml_examples(local_stack, tmp_path, monkeypatch):
    since = time.time()
    machine = local_stack["machine_client"]
    token = client.machine_token(local_stack, ["lineage.write"])
    with_key = local_yml(block("docs/lineage.md", "transport:").code, local_stack, {"<token>": token})
    oauth2 = textwrap.dedent(local_yml(block("docs/lineage.md", "auth:").code, local_stack, {
        "https://mlaudit-123.auth.eu-west-1.amazoncognito.com/oauth2/token": local_stack["token_url"],
        "<client id>": machine["client_id"], "<client secret>": machine["client_secret"]}))
    document = yaml.safe_load(with_key)
    document["transport"]["auth"] = yaml.safe_load(oauth2)["auth"]  # "renewing the token by itself"
    with_oauth2 = yaml.safe_dump(document)
    for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(key)
    runs = []
    for text in (with_key, with_oauth2):
        path = tmp_path / f"openlineage-{len(runs)}.yml"
        path.write_text(text)
        monkeypatch.setenv("OPENLINEAGE_CONFIG", str(path))
        runs.append(lineage_run(OpenLineageClient()))
    stored_runs(local_stack, since, runs)


def test_airflow_transport_example(local_stack):
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    since = time.time()
    (line,) = [x for x in block("docs/lineage.md", "[openlineage]").code.splitlines() if x.startswith("transport")]
    token = client.machine_token(local_stack, ["lineage.write"])
    transport = json.loads(local_yml(line.split("=", 1)[1], local_stack, {"<token>": token}))
    stored_runs(local_stack, since, [lineage_run(OpenLineageClient(transport=HttpTransport(
        HttpConfig.from_dict(transport))))])


SEND_FROM_ENVIRONMENT = """
import uuid
from datetime import UTC, datetime
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
run_id = str(uuid.uuid4())
client = OpenLineageClient()
for state in (RunState.START, RunState.COMPLETE):
    client.emit(RunEvent(eventType=state, eventTime=datetime.now(UTC).isoformat(), run=Run(runId=run_id),
                         job=Job(namespace="dbt-analytics", name="docs.model")))
print(run_id)
"""


def test_token_and_environment_examples(local_stack, tmp_path):
    """The curl line gets a token; the dbt exports, with it, point openlineage-python (as
    dbt-ol runs it) at the stack."""
    since = time.time()
    machine = local_stack["machine_client"]
    curl = block("docs/lineage.md", "TOKEN=$(curl").code
    exports = block("docs/lineage.md", "export OPENLINEAGE_URL=").code
    exports = exports.replace(DEPLOYED_URL, local_stack["api_url"] + "/")
    exports = "\n".join(x for x in exports.splitlines() if not x.startswith("dbt-ol"))
    script = tmp_path / "send.py"
    script.write_text(SEND_FROM_ENVIRONMENT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    env.update(CLIENT_ID=machine["client_id"], CLIENT_SECRET=machine["client_secret"],
               TOKEN_URL=local_stack["token_url"], PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", f"{curl}\n{exports}\npython {script}"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    stored_runs(local_stack, since, [done.stdout.split()[-1]])


# --- the operator's side -----------------------------------------------------------------


def test_import_example(local_stack, tmp_path):
    (line,) = [x for x in block("docs/lineage.md", "python -m cli import scores.jsonl").code.splitlines()
               if "--config" in x]
    tag = uuid.uuid4().hex[:8]
    scores = [{"event_type": "prediction", "occurred_at": datetime.now(UTC).isoformat(), "workload": "offline-scoring",
               "model_id": "churn", "model_version": "7", "prediction_id": f"docs-{tag}-{i}",
               "prediction_score": i / 10, "latency_ms": 3.5} for i in range(10)]
    (tmp_path / "scores.jsonl").write_text("".join(json.dumps(s) + "\n" for s in scores))
    (tmp_path / "stack.json").write_text(json.dumps(local_stack))
    command = line.split("#")[0].split()
    assert command[:3] == ["python", "-m", "cli"]
    done = subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": f"{REPO / 'lambdas'}:{REPO}"}, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10 accepted, 0 rejected, 0 already stored (dq pass 10, warn 0, fail 0)" in done.stdout, done.stdout


def test_verify_example(local_stack, tmp_path):
    from mlaudit.integrity.primitives.signing import kms_public_key_pem

    kms = client.aws_client(local_stack, "kms")
    (tmp_path / "checkpoint.pem").write_bytes(kms_public_key_pem(kms, local_stack["signing_key_id"]))
    (tmp_path / "entry.pem").write_bytes(kms_public_key_pem(kms, local_stack["entry_key_id"]))
    (tmp_path / "seal.pem").write_bytes(kms_public_key_pem(kms, local_stack["seal_key_id"]))
    # Something to verify, whichever examples ran before on this stack.
    event = {"event_type": "prediction", "occurred_at": datetime.now(UTC).isoformat(), "workload": "doc-verify",
             "model_id": "churn", "prediction_id": f"verify-{uuid.uuid4().hex[:8]}", "prediction_score": 0.5,
             "features": {"tenure": 1}}
    sent = requests.post(local_stack["api_url"] + "/v1/events", json={"events": [event]}, timeout=60,
                         headers={"Authorization": f"Bearer {client.machine_token(local_stack)}"})
    assert sent.status_code == 202, sent.text
    drained(local_stack)
    text = block("docs/integrity.md", "mlaudit-verify --bucket <audit bucket> \\").code
    text = text.replace("<audit bucket>", local_stack["bucket"]).replace("<witness bucket>",
                                                                           local_stack["witness_bucket"])
    command = text.replace("\\\n", " ").split()
    assert command[0] == "mlaudit-verify"  # the console script pyproject.toml installs (tests/unit/test_cli_package.py)
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'lambdas'}:{REPO}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": local_stack["region"]}
    # mlaudit-verify is `python -m mlaudit.integrity.verifier` (this venv's console script is main's)
    done = subprocess.run([sys.executable, "-m", "mlaudit.integrity.verifier", *command[1:],
                           "--endpoint-url", local_stack["aws_endpoint_url"]],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_local_engine_example(local_stack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # its cache directory is relative
    today = datetime.now(UTC).date().isoformat()
    code = block("docs/queries.md", "from local.athena import DuckDbEngine, S3Lake").code
    code = code.replace('"2026-11-01"', repr(today)).replace('"2026-11-30"', repr(today))
    names = run_python(code, {"s3_client": client.aws_client(local_stack, "s3"), "audit_bucket": local_stack["bucket"]})
    assert names["status"].state == "SUCCEEDED", names["status"]


def test_monitors_file_example(tmp_path):
    from mlaudit import monitors

    path = tmp_path / "monitors.json"
    path.write_text(block("docs/monitoring.md", '{"version": 1, "models"').code)
    loaded = monitors.load(path)
    assert loaded
