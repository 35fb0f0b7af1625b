"""EventBridge's rate schedule for the checkpoint signer: calls the real handler every
`interval` seconds in a thread (moto cannot invoke functions)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from local.periodic import Periodic
from local.runtime import LambdaContext


class Schedule(Periodic):
    def __init__(self, function: str, interval: float, *, timeout_seconds: int, region: str,
                 permitted: Callable[[], bool] | None = None,
                 load_handler: Callable[[str], Callable[[Any, Any], Any]] | None = None) -> None:
        # A first run at once, then every interval (on a fresh stack the signer's first run
        # signs checkpoint 0 over the empty log, which the writer's first entry waits for).
        super().__init__(f"schedule-{function}", interval, at_start=True)
        self.function = function
        self.timeout_seconds = timeout_seconds
        self.region = region
        # May EventBridge invoke the function (its Lambda permission for the rule)? Checked
        # at every run, as EventBridge's invocation is (local/services.py logs a refusal).
        self.permitted = permitted
        self.runs = 0
        self.load_handler = load_handler or (lambda name: importlib.import_module(f"mlaudit.handlers.{name}").handler)

    def tick(self) -> None:
        if self.permitted is not None and not self.permitted():
            return
        handler = self.load_handler(self.function)
        context = LambdaContext(self.function, self.timeout_seconds, region=self.region)
        handler({"source": "aws.events", "detail-type": "Scheduled Event"}, context)
        self.runs += 1
