"""The Auditor against the local stack: everything emitted is stored once, through
outages of the API and of the token endpoint, token expiry and rejections."""

from __future__ import annotations

from mlaudit_client import Auditor

from tests.client.conftest import prediction, settings, stored_ids


def test_emitted_events_are_stored_once_in_batches(local_stack, workload, tmp_path):
    audit = Auditor(**settings(local_stack, tmp_path))
    ids = [audit.emit(prediction(workload, i)) for i in range(1234)]
    assert audit.flush(60)
    assert audit.stats() == {"emitted": 1234, "sent": 1234, "spooled": 0, "rejected": 0, "dropped": 0,
                             "retries": 0}
    assert audit.close()
    assert stored_ids(local_stack, workload) == dict.fromkeys(ids, 1)
    assert not list((tmp_path / "spool").rglob("lane-*")), "a fully sent spool is removed at close"
