"""`python -m local serve --usage-report FILE` writes, on exit, every AWS call each function
made, counted the way AWS bills it (local/usage.py)."""

from __future__ import annotations

import json

from local import client
from tests.integration.conftest import LOCAL_STACK_ARGS, running_local_stack
from tests.integration.helpers import drained, post


def test_serve_writes_the_usage_report_on_exit(tmp_path) -> None:
    report_path = tmp_path / "usage.json"
    events = [{"event_id": f"usage-{i}", "event_type": "prediction", "occurred_at": "2026-11-26T06:59:00Z",
               "model_id": "m", "model_version": "1", "prediction_id": f"p{i}", "prediction_score": 0.5,
               "subject_ref": f"person-{i % 3}"} for i in range(20)]
    with running_local_stack(tmp_path, *LOCAL_STACK_ARGS, "--usage-report", str(report_path)) as config:
        token = client.machine_token(config, ["events.write"])
        assert post(config, {"events": events}, token).status_code == 202
        drained(config)
        assert not report_path.exists()  # written on exit
    report = json.loads(report_path.read_text())
    calls = {(c["function"], c["service"], c["action"], c["resource"]): c for c in report["calls"]}
    claims = calls[("ingest", "dynamodb", "PutItem", "idempotency_table")]
    assert claims["calls"] >= 20 and claims["write_units"] >= 20  # one conditional put per event, at least 1 WRU
    stored = calls[("writer", "s3", "PutObject", "audit_bucket:events/")]
    assert stored["stored_bytes"] > 0 and report["objects"]["audit_bucket:events/"]["count"] == stored["calls"]
    assert calls[("writer", "s3", "PutObject", "audit_bucket:index/subjects/v1/runs/")]["calls"] >= 1
    assert report["invocations"]["ingest"]["count"] == 1 and report["invocations"]["writer"]["count"] >= 1
    assert report["invocations"]["ingest"]["log_bytes"] > 0
    assert report["api"]["requests"] == 1 and report["tokens"] == 1
    assert any(name == "events" for _, name, _ in report["metric_series"])
