"""A thread that does one piece of work every `interval` seconds until stopped: how the
local stack stands in for EventBridge (a rate schedule, S3 notifications), since moto
invokes nothing."""

from __future__ import annotations

import logging
import threading
from typing import Self

logger = logging.getLogger(__name__)


class Periodic:
    """Subclasses implement `tick`. The first tick runs at once if `at_start`, else after
    one interval. A tick that raises is logged, as Lambda would, and the next one runs."""

    def __init__(self, name: str, interval: float, *, at_start: bool = False) -> None:
        self.name = name
        self.interval = interval
        self._at_start = at_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def tick(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        if self._at_start:
            self._tick()
        while not self._stop.wait(self.interval):
            self._tick()

    def _tick(self) -> None:
        try:
            self.tick()
        except Exception:
            logger.exception("%s failed", self.name)
