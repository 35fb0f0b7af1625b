"""`mlaudit compact` on the local stack (its own: compaction switches a day over for every
reader): the compaction function, invoked with its own role, makes a day's files at most 2
per event type that queries read, and points Athena's `events` view at them; every named
query answers as before, read as the view reads the lake, `mlaudit verify` passes, and a
second run compacts nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from mlaudit.events_view import NOTHING_COMPACTED, GlueView

from local import client
from local.athena import DuckDbEngine, S3Lake
from tests.integration.conftest import LOCAL_STACK_ARGS, running_local_stack
from tests.integration.helpers import make_events

REPO = Path(__file__).resolve().parents[2]


def mlaudit(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """This checkout's command (the venv's console script may be another checkout's)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "lambdas"), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=REPO)


REQUESTS = 4  # each its own writer batch: 4 files per event type


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("compaction")
    with running_local_stack(workdir, *LOCAL_STACK_ARGS) as config:
        path = workdir / "stack.json"
        path.write_text(json.dumps(config))
        token = client.machine_token(config)
        for n in range(REQUESTS):
            answer = requests.post(config["api_url"] + "/v1/events", json={"events": make_events(f"compact-{n}", 24)},
                                   headers=client.bearer(token), timeout=60)
            assert answer.status_code == 202, answer.text
            assert client.wait_drained(config, 120)
        yield {**config, "path": str(path)}


def _params(spec, today: str) -> dict[str, str]:
    start = f"{today}T00:00:00Z"
    end = (datetime.fromisoformat(today) + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
    values = {"model_id": "churn", "model_version": "7", "node_id": "compact-0-run", "node_type": "run",
              "positive_label": "churn", "subject_pseudonym": "sp1.00000000000000000000000000000000"}
    found = {}
    for param in spec.params:
        if not param.required:
            continue
        if param.type == "date":
            found[param.name] = today
        elif param.type == "timestamp":
            found[param.name] = end if param.name.endswith("_to") else start
        else:
            found[param.name] = values[param.name]
    return found


def _view(config) -> GlueView:
    return GlueView(client.aws_client(config, "glue"), config["glue_database"])


def _answers(config, today: str, *, by_markers: bool = False) -> tuple[dict[str, list], list[str]]:
    """Every named query over the lake as the queries function reads it, through Athena's
    `events` view (or by the day markers), read-only: no audit event; and the files it read
    for the day."""
    s3 = client.aws_client(config, "s3")
    with tempfile.TemporaryDirectory() as cache:
        lake = S3Lake(s3, config["bucket"], cache, None if by_markers else _view(config))
        engine = DuckDbEngine(lake, threads=1)
        answers = {}
        for name, spec in sorted(engine.catalog.queries.items()):
            status, rows = engine.run(name, _params(spec, today))
            assert status.state == "SUCCEEDED", (name, status)
            answers[name] = sorted(rows, key=json.dumps)
        files = [Path(f.path).parent.name + "/" + Path(f.path).name for f in lake.files([today], None)]
    return answers, files


def _last_day(config) -> str:
    s3 = client.aws_client(config, "s3")
    listed = s3.list_objects_v2(Bucket=config["bucket"], Prefix="events/", Delimiter="/")
    return max(p["Prefix"].split("=", 1)[1].rstrip("/") for p in listed["CommonPrefixes"])


def _wait_verified(config_path: str) -> None:
    """Until the latest checkpoint covers the log (the signer runs every 2 s)."""
    deadline = datetime.now(UTC) + timedelta(seconds=180)
    while True:
        shown = mlaudit("verify", "--config", config_path, "--json", "--jobs", "1", timeout=300)
        report = json.loads(shown.stdout)
        if shown.returncode == 0 and not any("not signed yet" in n for n in report["notes"]):
            return
        assert datetime.now(UTC) < deadline, shown.stdout[-3000:]


def test_compact_merges_the_day_queries_answer_as_before_and_verify_passes(stack):
    today = _last_day(stack)  # the events' day (the day they were received, UTC)
    _wait_verified(stack["path"])
    before, files_before = _answers(stack, today)
    types = {f.split("/")[0] for f in files_before}
    assert len(files_before) >= 2 * len(types)  # several files per type to merge
    assert _view(stack).cutoff() == NOTHING_COMPACTED

    shown = mlaudit("compact", "--config", stack["path"], "--through", today, "--json", timeout=600)
    assert shown.returncode == 0, shown.stderr
    done = json.loads(shown.stdout)
    assert done["marked"] == 1 and done["files"] >= len(types) and done["sources"] >= len(files_before)
    # The function (its role) moved Athena's view on: the day is read from compacted/
    assert done["compacted_through"] == today == _view(stack).cutoff()

    after, files_after = _answers(stack, today)
    per_type = {t: sum(1 for f in files_after if f.startswith(t + "/")) for t in types}
    assert max(per_type.values()) <= 2, per_type
    assert set(per_type) == types
    assert after == before  # every named query answers exactly as before
    assert _answers(stack, today, by_markers=True) == (after, files_after)  # the markers' reading is the same
    _wait_verified(stack["path"])

    # Idempotent: nothing more to merge, nothing new in the log for the day
    again = json.loads(mlaudit("compact", "--config", stack["path"], "--through", today, "--json").stdout)
    assert again["files"] == 0 and again["marked"] == 0 and again["compacted_through"] == today


def test_the_queries_function_reads_the_compacted_day_with_its_own_grants(stack):
    """Through the API: the function's role reads compacted/ (a grant it needs on AWS too)."""
    today = _last_day(stack)
    shown = mlaudit("query", "prediction_volume_latency", "--param", f"from_date={today}", "--param",
                    f"to_date={today}", "--format", "json", "--config", stack["path"], "--role", "analyst")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert sum(int(r["predictions"]) for r in rows) == REQUESTS * 6  # every prediction once
