"""The `mlaudit` console command against a running local stack: --help everywhere, errors
without tracebacks, and each command doing its job over real HTTP and moto."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from local import client
from tests.integration.conftest import running_local_stack
from tests.integration.helpers import make_events

REPO = Path(__file__).resolve().parents[2]
COMMANDS = ("serve", "demo", "verify", "query", "proof", "dlq", "report", "import")


def mlaudit_bin() -> str:
    path = Path(sys.executable).parent / "mlaudit"
    assert path.exists(), "the console script is missing: `make venv` installs the project (pip install -e .)"
    return str(path)


def mlaudit(*args: str, timeout: float = 180, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLAUDIT_DEBUG")}
    return subprocess.run([mlaudit_bin(), *args], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=cwd)


@pytest.fixture(scope="module")
def stack(local_stack, tmp_path_factory):
    """The stack's config file and a batch of stored predictions."""
    path = tmp_path_factory.mktemp("cli") / "stack.json"
    path.write_text(json.dumps(local_stack))
    events = make_events("cli-test", 30)
    token = client.machine_token(local_stack)
    answer = requests.post(local_stack["api_url"] + "/v1/events", json={"events": events},
                           headers=client.bearer(token), timeout=60)
    assert answer.status_code == 202, answer.text
    assert client.wait_drained(local_stack, 60)
    return {"config": str(path), "event_ids": answer.json()["event_ids"], "events": events}


def test_help_works_for_every_command():
    top = mlaudit("--help")
    assert top.returncode == 0 and "usage: mlaudit" in top.stdout
    for command in COMMANDS:
        shown = mlaudit(command, "--help")
        assert shown.returncode == 0, (command, shown.stderr)
        assert shown.stdout.startswith(f"usage: mlaudit {command}"), command


def test_bench_help_does_not_crash():
    for module in ("bench", "bench.integrity"):
        shown = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=REPO,
                               timeout=120, env={**os.environ, "PYTHONPATH": f"{REPO / 'lambdas'}:{REPO}"})
        assert shown.returncode == 0 and shown.stdout.startswith("usage:"), (module, shown.stderr)


@pytest.mark.parametrize("args", [
    ("query", "--config", "/nonexistent/stack.json"),
    ("verify", "--config", "/dev/null"),
    ("query", "no_such_query", "--config", "{config}"),
    ("query", "accuracy", "--param", "from_date", "--config", "{config}"),
    ("proof", "no-such-event", "--config", "{config}"),
    ("dlq", "--redrive", "no-such-message", "--config", "{config}"),
])
def test_errors_come_without_a_traceback(stack, args):
    shown = mlaudit(*(a.format(config=stack["config"]) for a in args))
    assert shown.returncode == 2, shown
    assert shown.stderr.startswith("error: ") and "Traceback" not in shown.stderr, shown.stderr


def test_query_prints_a_table_csv_or_json(stack):
    today = stack["events"][0]["occurred_at"][:10]
    params = ("--param", f"from_date={today}", "--param", f"to_date={today}", "--config", stack["config"])
    as_json = mlaudit("query", "events_deduplicated", *params, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert set(stack["event_ids"]) <= {r["event_id"] for r in rows}
    as_csv = mlaudit("query", "events_deduplicated", *params, "--format", "csv")
    parsed = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    # (each run is itself an audit event, so a later run sees more rows)
    assert len(parsed) > len(rows) and set(stack["event_ids"]) <= {r["event_id"] for r in parsed}
    as_table = mlaudit("query", "events_deduplicated", *params)
    lines = as_table.stdout.splitlines()
    assert lines[0].split()[0] == "event_id" and set(lines[1]) <= {"-", " "}
    # (the count has thousands separators: a stack shared with the 100,000-line import has > 999 rows)
    assert re.fullmatch(r"\((\d[\d,]*) rows\)", lines[-1])
    assert int(lines[-1][1:].split()[0].replace(",", "")) == len(lines) - 3
    listed = mlaudit("query", "--config", stack["config"])
    assert "drift_psi" in listed.stdout and "accuracy" in listed.stdout


def test_verify_shows_progress_and_a_summary(stack):
    shown = mlaudit("verify", "--config", stack["config"])
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "files" in shown.stderr  # the files read so far, as the verifier goes
    assert "events checked" in shown.stdout and shown.stdout.rstrip().endswith("OK: no problem found")


def test_proof_checks_a_receipt(stack, local_stack, machine_token):
    from tests.integration.helpers import signed_checkpoint_covering

    signed_checkpoint_covering(local_stack, machine_token(["events.read"]), 1)
    event_id = stack["event_ids"][0]
    shown = mlaudit("proof", event_id, "--config", stack["config"])
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert event_id in shown.stdout and "OK: the event is in the signed log" in shown.stdout


def test_dlq_lists_reasons_and_redrives(stack, local_stack):
    sqs = client.aws_client(local_stack, "sqs")
    sent = sqs.send_message(QueueUrl=local_stack["dlq_url"], MessageBody="not a pack")["MessageId"]
    listed = mlaudit("dlq", "--config", stack["config"])
    assert listed.returncode == 0, listed.stderr
    (line,) = [x for x in listed.stdout.splitlines() if x.startswith(sent)]
    assert "parses now" not in line and len(line.split()) > 4  # a reason from the writer's own parse
    redriven = mlaudit("dlq", "--redrive", sent, "--config", stack["config"])
    assert redriven.returncode == 0 and "redriven: 1" in redriven.stdout, redriven.stdout + redriven.stderr
    after = mlaudit("dlq", "--config", stack["config"])
    assert sent not in after.stdout
    # It went to the events queue: the writer fails it again and it is back in the DLQ after
    # max_receive_count receives; take it out so later tests see an empty DLQ.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=local_stack["dlq_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1)
        back = [m for m in got.get("Messages", []) if m["Body"] == "not a pack"]
        for message in got.get("Messages", []):
            sqs.change_message_visibility(QueueUrl=local_stack["dlq_url"], ReceiptHandle=message["ReceiptHandle"],
                                          VisibilityTimeout=0 if message not in back else 30)
        if back:
            sqs.delete_message(QueueUrl=local_stack["dlq_url"], ReceiptHandle=back[0]["ReceiptHandle"])
            break
    else:
        pytest.fail("the redriven message never reached the writer and came back")


# --- a CLI that tells the truth (#26) --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dlq_all_without_redrive_refuses_and_sends_nothing_back(stack, local_stack):
    sqs = client.aws_client(local_stack, "sqs")
    sent = sqs.send_message(QueueUrl=local_stack["dlq_url"], MessageBody="not a pack either")["MessageId"]
    try:
        refused = mlaudit("dlq", "--all", "--config", stack["config"])
        assert refused.returncode == 2 and "--all goes with --redrive" in refused.stderr, refused.stderr
        assert mlaudit("dlq", "--redrive", "--config", stack["config"]).returncode == 2  # ids, or --all
        listed = mlaudit("dlq", "--config", stack["config"])
        assert sent in listed.stdout, "still in the dead-letter queue"
    finally:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=local_stack["dlq_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1)
            mine = [m for m in got.get("Messages", []) if m["MessageId"] == sent]
            for message in got.get("Messages", []):
                if message in mine:
                    sqs.delete_message(QueueUrl=local_stack["dlq_url"], ReceiptHandle=message["ReceiptHandle"])
                else:
                    sqs.change_message_visibility(QueueUrl=local_stack["dlq_url"],
                                                  ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
            if mine:
                break


@pytest.mark.parametrize("args", [
    ("query",), ("query", "accuracy", "--param", "from_date=2026-11-01"), ("verify",), ("dlq",), ("proof", "x"),
    ("report",), ("import", "events.jsonl"),
])
def test_a_stack_that_is_not_running_is_named_with_how_to_start_it(local_stack, tmp_path, args):
    # Given the config a stopped stack left (its ports closed) at the default place,
    stale = {**local_stack, "api_url": f"http://127.0.0.1:{free_port()}/local",
             "aws_endpoint_url": f"http://127.0.0.1:{free_port()}"}
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "stack.json").write_text(json.dumps(stale))
    (tmp_path / "events.jsonl").write_text(json.dumps(make_events("stale", 1)[0]) + "\n")
    shown = mlaudit(*args, cwd=tmp_path)
    # then each command says the stack is not running and how to start it, not an AWS error.
    assert shown.returncode == 2, shown
    assert "is not running" in shown.stderr and "`mlaudit serve`" in shown.stderr, shown.stderr
    assert "Could not connect" not in shown.stderr and "Traceback" not in shown.stderr


def test_no_local_stack_at_all_says_how_to_start_one(tmp_path):
    shown = mlaudit("dlq", cwd=tmp_path)
    assert shown.returncode == 2 and "no local stack here" in shown.stderr and "`mlaudit serve`" in shown.stderr


def test_serve_removes_its_config_on_exit_and_will_not_start_over_a_running_one(tmp_path):
    with running_local_stack(tmp_path) as config:
        path = tmp_path / "local-stack.json"
        assert path.is_file()
        second = subprocess.run([sys.executable, "-m", "local", "serve", "--config-out", str(path)], cwd=REPO,
                                capture_output=True, text=True, timeout=300,
                                env={**os.environ, "PYTHONPATH": f"{REPO / 'lambdas'}:{REPO}"})
        assert second.returncode == 2 and "already running" in second.stderr, second.stderr
        assert json.loads(path.read_text())["api_url"] == config["api_url"], "the running stack's config stays"
    # running_local_stack stops it with SIGINT, as Ctrl-C does
    assert not path.exists(), "the config of a stopped stack is gone"


def test_import_defaults_refuses_an_unknown_type_before_uploading_and_shows_own_names(local_stack, tmp_path):
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "stack.json").write_text(json.dumps(local_stack))
    s3 = client.aws_client(local_stack, "s3")
    name = f"scores-{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.txt").write_text(json.dumps(make_events(name, 1)[0]) + "\n")
    refused = mlaudit("import", f"{name}.txt", cwd=tmp_path)
    assert refused.returncode == 2 and "not a file type the import reads" in refused.stderr, refused.stderr
    listed = s3.list_objects_v2(Bucket=local_stack["landing_bucket"], Prefix=f"imports/{name}")
    assert listed["KeyCount"] == 0, "nothing was uploaded"
    # A JSON Lines file with a field of the user's own: the report's masked name is shown as theirs.
    good, bad = make_events(name, 2)
    (tmp_path / f"{name}.jsonl").write_text(json.dumps(good) + "\n" + json.dumps({**bad, "colour_of_cat": "red"})
                                            + "\n")
    imported = mlaudit("import", f"{name}.jsonl", cwd=tmp_path, timeout=900)  # no --config: .local/stack.json
    assert imported.returncode == 1, imported.stdout + imported.stderr
    assert "1 accepted, 1 rejected" in imported.stdout
    (line,) = [x for x in imported.stdout.splitlines() if x.strip().startswith("line 2:")]
    assert '"colour_of_cat"' in line and "sha256" not in line, line


def test_query_lists_every_query_with_its_parameters_and_roles(stack):
    listed = mlaudit("query", "--config", stack["config"])
    assert listed.returncode == 0, listed.stderr
    from mlaudit.queries.catalog import load_catalog

    catalog = load_catalog()
    for name, spec in catalog.queries.items():  # every one, including those only another role may run
        assert f"{name}  (roles: {', '.join(sorted(spec.roles))})" in listed.stdout, name
    assert "--param from_date=<date>  to_date=<date>  model_id=<string>?" in listed.stdout
    assert max(len(x) for x in listed.stdout.splitlines()) <= 120  # descriptions wrapped, not cut


def test_query_name_help_shows_its_parameters_columns_and_roles(tmp_path):
    shown = mlaudit("query", "drift_psi", "--help", cwd=tmp_path)  # no stack needed
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: mlaudit query")
    assert "drift_psi  (roles: analyst, auditor)" in shown.stdout
    from mlaudit.queries.catalog import load_catalog

    spec = load_catalog().get("drift_psi")
    for param in spec.params:
        assert f"  {param.name}=<{param.type}>  {'required' if param.required else 'optional'}" in shown.stdout
    assert "columns:" in shown.stdout and all(c.name in shown.stdout for c in spec.columns)
    unknown = mlaudit("query", "no_such_query", "--help", cwd=tmp_path)
    assert unknown.returncode == 0 and "There is no query 'no_such_query'" in unknown.stdout


def test_a_403_names_the_roles_that_may_run_the_query(stack):
    today = stack["events"][0]["occurred_at"][:10]
    params = ("--param", f"from_date={today}", "--param", f"to_date={today}", "--param",
              "subject_pseudonym=nobody-at-all", "--config", stack["config"])
    refused = mlaudit("query", "subject_events", *params, "--role", "analyst")
    assert refused.returncode == 2, refused.stderr
    assert "the roles that may run it: privacy_officer" in refused.stderr and "--role" in refused.stderr
    # Without --role, the local stack's user of a role the query allows runs it.
    allowed = mlaudit("query", "subject_events", *params, "--format", "json")
    assert allowed.returncode == 0 and json.loads(allowed.stdout) == [], allowed.stderr


def test_lineage_is_found_by_job_name_for_run_events(stack, local_stack):
    run_id, namespace = str(uuid.uuid4()), f"cli-{uuid.uuid4().hex[:8]}"
    token = client.machine_token(local_stack, ["lineage.write"])
    for state in ("START", "COMPLETE"):
        sent = requests.post(local_stack["api_url"] + "/v1/lineage", headers=client.bearer(token), timeout=60, json={
            "eventType": state, "eventTime": datetime.now(UTC).isoformat(), "producer": "https://example.com/p",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id}, "job": {"namespace": namespace, "name": "build.features"},
            "inputs": [{"namespace": namespace, "name": "raw"}], "outputs": [{"namespace": namespace, "name": "out"}]})
        assert sent.status_code == 201, sent.text
    assert client.wait_drained(local_stack, 90)
    today = datetime.now(UTC).date().isoformat()
    shown = mlaudit("query", "lineage_downstream", "--param", "node_type=job", "--param",
                    f"node_id={namespace}/build.features", "--param", f"from_date={today}", "--param",
                    f"to_date={today}", "--format", "json", "--config", stack["config"])
    assert shown.returncode == 0, shown.stderr
    assert [(r["node_type"], r["node_id"], r["depth"]) for r in json.loads(shown.stdout)] == [
        ("run", run_id, 0), ("dataset", f"{namespace}/out", 1)]
