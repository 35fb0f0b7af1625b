"""Configuration from the environment, a file and Secrets Manager; the synchronous
mode; an Auditor shared with forked children (pre-fork servers)."""

from __future__ import annotations

import json
import os

import pytest
from mlaudit_client import AuditClient, Auditor

from local import client
from tests.client.conftest import flushed, prediction, settings, stored_ids


def test_settings_from_environment_file_and_a_secret_in_secrets_manager(local_stack, workload, tmp_path,
                                                                         monkeypatch):
    machine = local_stack["machine_client"]
    secrets = client.aws_client(local_stack, "secretsmanager")
    arn = secrets.create_secret(Name=f"mlaudit/{workload}",
                                SecretString=json.dumps({"client_secret": machine["client_secret"]}))["ARN"]
    config_file = tmp_path / "mlaudit.toml"
    config_file.write_text(f'spool_dir = "{tmp_path / "spool"}"\nflush_interval = 0.1\n'
                           f'api_url = "http://127.0.0.1:1/not-this-one"\n')
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_stack["aws_endpoint_url"])  # boto3 finds moto here
    monkeypatch.setenv("MLAUDIT_CONFIG", str(config_file))
    monkeypatch.setenv("MLAUDIT_API_URL", local_stack["api_url"])  # the environment wins over the file
    monkeypatch.setenv("MLAUDIT_TOKEN_URL", local_stack["token_url"])
    monkeypatch.setenv("MLAUDIT_CLIENT_ID", machine["client_id"])
    monkeypatch.setenv("MLAUDIT_CLIENT_SECRET_ARN", arn)

    audit = Auditor(common={"workload": workload})
    assert audit.config.flush_interval == 0.1 and audit.config.client_secret == machine["client_secret"]
    event_id = audit.emit({"event_type": "model_deployed", "model_id": "churn", "model_version": "7"})
    assert flushed(audit)
    audit.close()
    assert stored_ids(local_stack, workload) == {event_id: 1}
    assert list((tmp_path / "spool").iterdir()), "the spool lives where the file says"

    monkeypatch.setenv("MLAUDIT_DURABILITY", "eventually")
    with pytest.raises(ValueError, match="durability must be one of spool, fsync, memory"):
        Auditor()


def test_sync_mode_returns_the_answers_or_raises(local_stack, workload):
    machine = local_stack["machine_client"]
    audit = AuditClient(local_stack["api_url"], local_stack["token_url"], machine["client_id"],
                        machine["client_secret"])
    events = [prediction(workload, i) for i in range(3)]
    (answer,) = audit.send(events)
    assert answer["event_ids"] == [e["event_id"] for e in events]
    down = AuditClient("http://127.0.0.1:1/local", local_stack["token_url"], machine["client_id"],
                       machine["client_secret"], attempts=2)
    with pytest.raises(ConnectionError, match="not accepted after 2 attempts"):
        down.send([prediction(workload, 9)])
    assert stored_ids(local_stack, workload) == {e["event_id"]: 1 for e in events}


def test_a_forked_child_sends_its_own_events_and_not_its_parents(local_stack, workload, tmp_path):
    audit = Auditor(**settings(local_stack, tmp_path, flush_interval=3600))
    before = [audit.emit(prediction(workload, i)) for i in range(50)]  # unsent when the child is born
    pid = os.fork()
    if pid == 0:  # the child: a pre-fork server's worker
        code = 1
        try:
            ids = [audit.emit(prediction(workload, 1000 + i)) for i in range(30)]
            sent = flushed(audit) and audit.stats()["sent"]
            (tmp_path / "child.json").write_text(json.dumps(ids))
            audit.close()
            code = 0 if sent == 30 else 2
        finally:
            os._exit(code)
    after = [audit.emit(prediction(workload, 100 + i)) for i in range(20)]
    assert os.waitpid(pid, 0)[1] == 0, "the child sent exactly its own 30 events"
    assert flushed(audit) and audit.stats()["sent"] == 70
    audit.close()
    child = json.loads((tmp_path / "child.json").read_text())
    assert stored_ids(local_stack, workload) == dict.fromkeys(before + after + child, 1)
