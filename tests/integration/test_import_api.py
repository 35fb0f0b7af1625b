"""Batch import through the local stack, as an operator runs it: the CLI drops a
100,000-line file in the landing bucket, the import function (started by the emulated
EventBridge rule) validates every line with the contract and rules, sends the good ones
through the queue and writer, and writes a report listing each bad line with its reason.
Dropping the same content again stores nothing twice."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlaudit.layout import parse_partition

from local import client
from tests.integration.helpers import drained

LINES = 100_000
BAD_EVERY = 97  # about 1% of lines are refused, each for a reason the report must name
REPO = Path(__file__).resolve().parents[2]


def write_file(path: Path, marker: str) -> dict[int, str]:
    """The file, and the rule each bad line breaks (by line number, 1-based)."""
    bad: dict[int, str] = {}
    with path.open("w") as out:
        for number in range(1, LINES + 1):
            event = {"event_type": "prediction", "occurred_at": "2026-11-29T10:00:00Z", "workload": marker,
                     "model_id": "churn", "model_version": "7", "prediction_id": f"{marker}-{number}",
                     "prediction_score": (number % 100) / 100}
            if number % BAD_EVERY == 0:
                kind = (number // BAD_EVERY) % 3
                if kind == 0:
                    out.write("{not json\n")
                    bad[number] = "malformed_json"
                    continue
                if kind == 1:
                    event["surname"] = "never stored"
                    bad[number] = "unknown_field"
                else:
                    event["prediction_score"] = "high"
                    bad[number] = "float_type"
            out.write(json.dumps(event) + "\n")
    return bad


def cli_import(config_path: Path, file: Path, name: str, report: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", "import", str(file), "--config", str(config_path), "--name", name,
         "--report", str(report), "--timeout", "300"],
        cwd=REPO, capture_output=True, text=True, timeout=400,
    )


def stored(config: dict[str, Any], marker: str) -> Counter:
    """prediction_id -> how many times it is in the lake."""
    s3 = client.aws_client(config, "s3")
    counts: Counter = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config["bucket"], Prefix="events/"):
        for item in page.get("Contents", []):
            if parse_partition(item["Key"])[1] != "prediction":
                continue
            body = s3.get_object(Bucket=config["bucket"], Key=item["Key"])["Body"].read()
            table = pq.read_table(pa.BufferReader(body), columns=["workload", "prediction_id"])
            counts.update(p for w, p in zip(table["workload"].to_pylist(), table["prediction_id"].to_pylist(),
                                            strict=True) if w == marker)
    return counts


@pytest.fixture(scope="module")
def imported(local_stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("import")
    config_path = workdir / "stack.json"
    config_path.write_text(json.dumps(local_stack))
    marker = f"import-{uuid.uuid4().hex[:8]}"
    file = workdir / "events.jsonl"
    bad = write_file(file, marker)
    first = cli_import(config_path, file, "batch/events.jsonl", workdir / "first.json")
    drained(local_stack)
    counts_after_first = stored(local_stack, marker)
    again = cli_import(config_path, file, "batch/events-again.jsonl", workdir / "again.json")
    drained(local_stack)
    return {"marker": marker, "bad": bad, "first": first, "again": again,
            "report": json.loads((workdir / "first.json").read_text()),
            "again_report": json.loads((workdir / "again.json").read_text()),
            "counts_after_first": counts_after_first, "counts": stored(local_stack, marker)}


def test_every_good_line_is_stored_once(imported: dict[str, Any]) -> None:
    good = {f"{imported['marker']}-{n}" for n in range(1, LINES + 1) if n not in imported["bad"]}
    counts = imported["counts_after_first"]
    assert set(counts) == good
    assert max(counts.values()) == 1


def test_the_report_names_every_bad_line_and_its_reason(imported: dict[str, Any]) -> None:
    report, bad = imported["report"], imported["bad"]
    assert imported["first"].returncode == 1, imported["first"].stderr  # some lines were rejected
    assert (report["state"], report["lines"], report["rejected"]) == ("imported", LINES, len(bad))
    assert report["accepted"] == LINES - len(bad)
    listed = {r["line"]: {e["rule"] for e in r["errors"]} for r in report["rejections"]}
    assert set(listed) == set(bad)
    assert all(bad[line] in rules for line, rules in listed.items()), listed
    assert "never stored" not in json.dumps(report)  # refused values are not echoed
    # What the operator sees: a progress bar, then the summary and the first bad lines.
    assert f"{LINES:,}/{LINES:,} lines" in imported["first"].stderr
    assert f"imported: {LINES:,} lines" in imported["first"].stdout


def test_dropping_the_same_content_again_stores_nothing(imported: dict[str, Any]) -> None:
    assert imported["again"].returncode == 1  # the same rejected lines, from the first report
    assert imported["again_report"]["state"] == "already_imported"
    assert imported["counts"] == imported["counts_after_first"]
