"""The Auditor against the local stack: everything emitted is stored once, through
outages of the API and of the token endpoint, token expiry and rejections."""

from __future__ import annotations

import json
import os
import threading
import time

from mlaudit.errors import masked_name
from mlaudit_client import Auditor

from tests.client.conftest import (
    BusyFront,
    ShortTokens,
    TcpProxy,
    flushed,
    prediction,
    settings,
    stored_ids,
    wait_until,
)

# The issue asks for 30 s; MLAUDIT_TEST_OUTAGE_SECONDS=3 for a quick run.
OUTAGE_SECONDS = float(os.environ.get("MLAUDIT_TEST_OUTAGE_SECONDS", "30"))


def test_emitted_events_are_stored_once_in_batches(local_stack, workload, tmp_path):
    audit = Auditor(**settings(local_stack, tmp_path))
    ids = [audit.emit(prediction(workload, i)) for i in range(1234)]
    assert flushed(audit)
    assert audit.stats() == {"emitted": 1234, "sent": 1234, "spooled": 0, "rejected": 0, "dropped": 0,
                             "retries": 0}
    assert audit.close()
    assert stored_ids(local_stack, workload) == dict.fromkeys(ids, 1)
    assert not list((tmp_path / "spool").rglob("lane-*")), "a fully sent spool is removed at close"


def test_api_down_mid_stream_then_back_every_event_stored_once(local_stack, api_proxy, workload, tmp_path):
    overrides = {"api_url": api_proxy.url, "backoff_cap": 1.0}
    audit = Auditor(**settings(local_stack, tmp_path, **overrides))
    ids: list[str | None] = []
    stop = threading.Event()

    def inference_loop() -> None:
        i = 0
        while not stop.is_set():
            ids.append(audit.emit(prediction(workload, i)))
            i += 1
            time.sleep(0.01)  # ~100 events/s: 3,000 wait out the outage

    thread = threading.Thread(target=inference_loop)
    thread.start()
    assert wait_until(lambda: audit.stats()["sent"] > 0, 120), "sending before the outage"
    api_proxy.down()
    time.sleep(0.5)  # the outage's length is the scenario, not a wait for something
    outage_began = audit.stats()
    time.sleep(OUTAGE_SECONDS - 0.5)
    during = audit.stats()
    came_back = time.monotonic()
    api_proxy.up()
    # The client's promise: once the API answers, it tries again within its largest backoff
    # (docs/client.md); the margin is for a busy machine's scheduling, not for the client.
    assert wait_until(lambda: any(t >= came_back for t in api_proxy.accepted_at), overrides["backoff_cap"] + 10)
    time.sleep(1)
    stop.set()
    thread.join()
    assert flushed(audit)  # the backlog drains at the local stack's pace, however busy the machine
    stats = audit.stats()
    audit.close()
    assert None not in ids
    assert during["sent"] == outage_began["sent"], "nothing got through the outage"
    assert during["retries"] > 0 and during["spooled"] > 0, "the outage was seen and events waited for it"
    assert stats["sent"] == len(ids) and stats["rejected"] == stats["dropped"] == 0
    assert stored_ids(local_stack, workload) == dict.fromkeys(ids, 1)


def test_token_expiry_and_token_endpoint_outage_lose_nothing(local_stack, workload, tmp_path):
    tokens = ShortTokens(local_stack, lifetime=2)  # renewed every 1.5 s; every other one refused (401)
    token_proxy = TcpProxy(tokens.url)
    try:
        audit = Auditor(**settings(local_stack, tmp_path, token_url=token_proxy.url))
        ids = []
        for i in range(400):  # 4 s: two token lifetimes, one of them with the token endpoint away
            if i == 100:
                token_proxy.down()
            if i == 300:
                token_proxy.up()
            ids.append(audit.emit(prediction(workload, i)))
            time.sleep(0.01)
        assert flushed(audit)
        stats = audit.stats()
        audit.close()
    finally:
        token_proxy.close()
        tokens.close()
    assert tokens.issued >= 4 and stats["retries"] >= tokens.issued // 2, "renewals, 401s and the outage"
    assert stats["sent"] == 400
    assert stored_ids(local_stack, workload) == dict.fromkeys(ids, 1)


def test_a_refused_event_reaches_the_callback_and_the_rejected_file_and_is_not_retried(
        local_stack, workload, tmp_path):
    seen = []
    audit = Auditor(**settings(local_stack, tmp_path), on_rejected=lambda events, answer: seen.append((events, answer)))
    good = [audit.emit(prediction(workload, i)) for i in range(5)]
    bad = audit.emit({**prediction(workload, 5), "colour": "red"})  # not in the contract: the server says 422
    good += [audit.emit(prediction(workload, i)) for i in range(6, 10)]
    nan = audit.emit({**prediction(workload, 10), "prediction_score": float("nan")})  # refused at once, no raise
    assert flushed(audit)
    stats = audit.stats()
    audit.close()
    assert nan is None
    assert stats == {"emitted": 10, "sent": 9, "spooled": 0, "rejected": 2, "dropped": 0, "retries": 0}
    (local_events, local_answer), (events, answer) = seen
    assert local_answer["error"] == "refused_by_client" and "finite" in local_answer["message"]
    assert [e["event_id"] for e in events] == [bad] and answer["status"] == 422
    rejected = [json.loads(line) for line in (tmp_path / "spool").rglob("rejected.jsonl").__next__().open()]
    assert [r["event"]["event_id"] for r in rejected][1:] == [bad]
    reason = rejected[1]["reasons"][0]
    assert reason["rule"] == "unknown_field" and reason["path"].endswith(masked_name("colour"))  # not echoed
    assert stored_ids(local_stack, workload) == dict.fromkeys(good, 1)  # the rest of its batch went on its own


def test_429_and_503_are_retried_no_sooner_than_retry_after(local_stack, workload, tmp_path):
    front = BusyFront(local_stack["api_url"], refusals=[429, 503], retry_after=1)
    try:
        audit = Auditor(**settings(local_stack, tmp_path, api_url=front.url, backoff_base=0.01))
        ids = [audit.emit(prediction(workload, i)) for i in range(20)]
        assert flushed(audit)
        stats = audit.stats()
        audit.close()
    finally:
        front.close()
    assert stats["retries"] == 2 and stats["sent"] == 20
    attempts = [*front.refused_at, front.passed_at[0]]
    # the backoff alone would wait at most 0.01-0.02 s: the server's Retry-After decided
    assert all(later - earlier >= 1 for earlier, later in zip(attempts, attempts[1:], strict=False))
    assert stored_ids(local_stack, workload) == dict.fromkeys(ids, 1)


def test_threads_emitting_at_once_each_event_stored_once(local_stack, workload, tmp_path):
    audit = Auditor(**settings(local_stack, tmp_path))
    ids: list[list[str | None]] = [[] for _ in range(4)]

    def work(n: int) -> None:
        ids[n] = [audit.emit(prediction(workload, n * 1000 + i)) for i in range(300)]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert flushed(audit) and audit.stats()["sent"] == 1200
    audit.close()
    assert stored_ids(local_stack, workload) == dict.fromkeys([i for part in ids for i in part], 1)
