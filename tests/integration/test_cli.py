"""The `mlaudit` console command against a running local stack: --help everywhere, errors
without tracebacks, and each command doing its job over real HTTP and moto."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from local import client
from tests.integration.helpers import make_events

REPO = Path(__file__).resolve().parents[2]
COMMANDS = ("serve", "demo", "verify", "query", "proof", "dlq", "report", "import")


def mlaudit_bin() -> str:
    path = Path(sys.executable).parent / "mlaudit"
    assert path.exists(), "the console script is missing: `make venv` installs the project (pip install -e .)"
    return str(path)


def mlaudit(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLAUDIT_DEBUG")}
    return subprocess.run([mlaudit_bin(), *args], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=REPO)


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
    assert "files" in shown.stderr and "[" in shown.stderr  # the progress bar
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
