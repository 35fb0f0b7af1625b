"""Scheduled: compact the closed days (logic in mlaudit.compaction; environment and grants
in mlaudit.functions). `{"every": true}` looks at every closed day, not only the recent
ones (what `mlaudit compact` asks for); `{"through": "YYYY-MM-DD"}` treats that day and
every one before it as closed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.compaction import summary

logger = Logger(service="mlaudit-compaction")

APP = bootstrap.app("compaction")
# Stop starting days with this much of the run's time left: a day is finished, or left for
# the next run to finish from its records (each step is a create of the same bytes).
RESERVE_MS = 5 * 60 * 1000


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    compactor = APP.service()
    through = event.get("through")
    results = compactor.run(every=bool(event.get("every")), through=through if isinstance(through, str) else None,
                            deadline=lambda: context.get_remaining_time_in_millis() < RESERVE_MS)
    done = summary(results)
    # Athena's `events` view: the days compacted now read from compacted/ (docs/compaction.md).
    done["compacted_through"] = compactor.advance_view()
    logger.info("compaction run", extra=done)
    return done
