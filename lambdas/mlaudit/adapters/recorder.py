"""The stack's own audit events (query runs, configuration reads) go to the events queue
through the same EventRecorder as clients' events."""

from __future__ import annotations

import functools
import os

from mlaudit.adapters.aws import client
from mlaudit.adapters.queue import SqsQueue
from mlaudit.ingest import EventRecorder, IngestLimits
from mlaudit.settings import Env


@functools.cache
def queue_recorder() -> EventRecorder:
    """Built on first use from the function's environment (never at import)."""
    return EventRecorder(queue=SqsQueue(client("sqs"), os.environ[Env.EVENTS_QUEUE_URL]), limits=IngestLimits())
