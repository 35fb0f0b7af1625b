"""The recovery sweep: files the writer stored and never saw in the integrity log, adopted.

The writer lists each file in its ledger (`writer.Ledger.expect`) before it puts it, and
takes it off the list once the integrity log records it; a later delivery of its messages
that finds it stored and not logged lists it again. A file still listed longer ago than
the writer's timeout (`grace`: no invocation that listed it still runs) was put and not
logged (the function stopped between the two, or the log could not be written), or was
never put (the put failed; its messages come back and list their file again). The sweep,
on a schedule, takes the files listed before `grace`:

- a file the log records (the writer logged it, then could not take it off the list):
  taken off;
- a file stored and not logged: recorded in the log from its bytes
  (`IntegritySink.file_stored`, a no-op for a file recorded meanwhile), then taken off;
- a file not stored: taken off.

Past `grace` the sweep is the only one that logs a file: the writer logs a file only in the
invocation that put it, while its listing is younger than half of `grace`
(`WriterService._store`). Two callers appending the same file at once could log it twice.

So a stored file is never left for the verifier to call foreign, whatever became of its
messages, and the writer can acknowledge messages whose events are stored without
waiting for the log. The writer function runs it on a schedule (`WriterService.recover`):
it finishes the writer's work with the writer's grants, so the writer's role stays the one
that signs log entries. Bounded per run: it reads one ledger item per 10 minutes of `horizon`
(a day: 145 keys, 2 reads), never the lake's listing, looks at no more than `max_files`
files and takes no new one after `budget` (under the schedule's interval: two runs never
work at once); what it leaves is seen by the next run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mlaudit.integrity.primitives import records

HORIZON = timedelta(days=1)  # the lists a run reads; runs every 5 minutes (stacks/ingestion.py)
MAX_FILES = 500  # files looked at per run
BUDGET = timedelta(minutes=2)  # no file taken after this: well inside the 5 minutes between runs


@dataclass
class SweepReport:
    adopted: list[str] = field(default_factory=list)  # stored, not logged: now in the log
    logged: int = 0  # already in the log: taken off the list
    never_stored: int = 0  # listed, never put: taken off the list
    left: int = 0  # still listed (an error, or past max_files): the next run's

    def summary(self) -> dict[str, int]:
        return {"adopted": len(self.adopted), "logged": self.logged, "never_stored": self.never_stored,
                "left": self.left}


class RecoverySweep:
    def __init__(
        self, *, objects: Any, ledger: Any, integrity: Any, grace: timedelta, horizon: timedelta = HORIZON,
        max_files: int = MAX_FILES, budget: timedelta = BUDGET, clock: Any = lambda: datetime.now(UTC),
    ) -> None:
        """`objects`: the audit bucket (`writer.ObjectStore` with `exists`); `ledger`: the
        writer's (`writer.Ledger`); `integrity`: the writer's sink; `grace`: the writer's
        timeout, after which no invocation that listed a file still runs."""
        self.objects = objects
        self.ledger = ledger
        self.integrity = integrity
        self.grace = grace
        self.horizon = horizon
        self.max_files = max_files
        self.budget = budget
        self.clock = clock

    def run(self) -> SweepReport:
        now = self.clock()
        stop_at = time.monotonic() + min(self.budget, self.grace / 2).total_seconds()
        report = SweepReport()
        budget = self.max_files
        for listed_at, keys in self.ledger.expected(now - self.horizon, now - self.grace).items():
            done = []
            for key in keys:
                if budget == 0 or time.monotonic() > stop_at:
                    report.left += 1
                    continue
                budget -= 1
                try:
                    outcome = self._settle(key)
                except Exception:  # noqa: BLE001 - left listed: the next run tries again
                    report.left += 1
                    continue
                done.append(key)
                if outcome == "adopted":
                    report.adopted.append(key)
                elif outcome == "logged":
                    report.logged += 1
                else:
                    report.never_stored += 1
            if done:
                self.ledger.settle(done, listed_at)
        return report

    def _settle(self, key: str) -> str:
        """What became of a listed file, once no writer still works on it."""
        if self.objects.exists(records.log_by_file_key(key)):
            return "logged"
        body = self.objects.get(key)
        if body is None:
            return "never_stored"
        self.integrity.file_stored(key, body)
        return "adopted"
