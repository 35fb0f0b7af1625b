"""The reliability suite on the local stack (in this process): concurrent clients that
retry and re-form their batches while S3, SQS, KMS and DynamoDB calls of ingest and the
writer fail before or after they take effect, with poison messages on the queue. Every
event answered 202 is in the lake once; nothing else is; the poison is in the DLQ.
The longer run is `make soak` (bench/soak.py)."""

from __future__ import annotations

import pytest

from bench import reliability


@pytest.fixture(scope="module")
def stack():
    with reliability.local_stack() as running:
        yield running


def test_every_accepted_event_is_stored_once_under_faults(stack):
    result = reliability.run(stack, clients=4, batches=6, size=40, poison=3)
    summary = result.summary()
    assert result.faults > 5, summary  # the faults did strike
    assert result.server_errors > 0, summary  # and the clients saw them and retried
    assert (result.lost, result.duplicated, result.foreign) == ([], [], []), summary
    assert len(result.accepted) == 4 * 6 * 40, summary
    assert result.refused_valid == [], summary
    assert result.poison_in_dlq == 3, summary  # each poison message failed alone


def test_a_crash_between_the_s3_put_and_the_log_stores_once(stack):
    """Every writer put takes effect and then fails (as a crash would): the redelivery
    finds the file through the ledger, records it in the log, and writes nothing twice."""
    from local.faults import Fault

    result = reliability.run(stack, clients=1, batches=2, size=30, poison=0, prefix="crash",
                             faults=(Fault("writer", "s3", "PutObject", 0.5, "after"),))
    assert (result.lost, result.duplicated) == ([], []), result.summary()
    assert len(result.accepted) == 60

