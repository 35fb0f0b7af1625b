"""Retrying an AWS call that failed for a passing reason (a 5xx, a throttle, a timeout on
the answer), within one invocation, before failing the work that needed it.

The SDK's own retries cover a few quick failures; past them, the writer would fail its
messages and SQS would bring them back a visibility timeout later, each time using up a
receive, until maxReceiveCount sends messages whose events were on their way to the DLQ.
A few more attempts here, a fraction of a second apart, keep a patch of failures from
costing receives. Every call retried this way must be safe to repeat: a conditional write
that took effect before its answer was lost must be recognised as one's own (the ledger
does: `adapters.ledger`), and a put of the same bytes is a retry (`adapters.bucket`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

ATTEMPTS = 6
FIRST_PAUSE_SECONDS = 0.05  # doubled each time: ~1.5 s in all before the last attempt


def retried(
    call: Callable[[], T], *, final: Callable[[Exception], bool] = lambda _: False, attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()`, attempted up to `attempts` times; an error `final` says will not pass, or
    the last one, is raised."""
    pause = FIRST_PAUSE_SECONDS
    for attempt in range(attempts):
        try:
            return call()
        except Exception as error:
            if final(error) or attempt + 1 == attempts:
                raise
        sleep(pause)
        pause *= 2
    raise AssertionError("unreachable")
