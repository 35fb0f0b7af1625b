"""EventBridge's rate schedule for the checkpoint signer: calls the real handler every
`interval` seconds in a thread (moto cannot invoke functions)."""

from __future__ import annotations

import importlib
import logging
import threading

from local.runtime import LambdaContext

logger = logging.getLogger(__name__)


class Schedule:
    def __init__(self, function: str, interval: float, *, timeout_seconds: int, region: str) -> None:
        self.function = function
        self.interval = interval
        self.timeout_seconds = timeout_seconds
        self.region = region
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"schedule-{function}", daemon=True)

    def start(self) -> Schedule:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        handler = importlib.import_module(f"mlaudit.handlers.{self.function}").handler
        # A first run at once, then every interval (on a fresh stack the signer's first run
        # signs checkpoint 0 over the empty log, which the writer's first entry waits for).
        while True:
            context = LambdaContext(self.function, self.timeout_seconds, region=self.region)
            try:
                handler({"source": "aws.events", "detail-type": "Scheduled Event"}, context)
                self.runs += 1
            except Exception:  # a failed run is logged, as Lambda would, and the schedule goes on
                logger.exception("scheduled %s failed", self.function)
            if self._stop.wait(self.interval):
                return
