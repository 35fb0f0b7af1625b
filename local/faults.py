"""Fault injection for the local stack: AWS calls of a function that fail on purpose.

A `FaultPlan` holds rules; each names a function, a service and an operation (or `*`),
how often it strikes (a probability, from a seeded random source, so a run can be
repeated) and when:

- "before": the call never reaches moto (a 5xx or a throttle after the SDK's retries);
- "after": the call takes effect, then the caller sees an error (a timeout on the
  answer): the ambiguous case, such as a crash between an S3 put and the next step.

Rules can be added and removed while the stack runs (`add`, `clear`); `struck` counts
the faults per (function, service, operation). Wired where the stack makes each
function's clients (`LocalStack.faults`), the same place as the IAM enforcer.

    python -m local --faults "writer:s3:PutObject:0.2:after,ingest:sqs:SendMessageBatch:0.1"
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

# The error each service answers when it is down (what the SDK raises after its retries).
_CODES = {"s3": ("ServiceUnavailable", 503), "sqs": ("ServiceUnavailable", 503),
          "dynamodb": ("ProvisionedThroughputExceededException", 400), "kms": ("KMSInternalException", 500)}


@dataclass(frozen=True)
class Fault:
    function: str  # or "*"
    service: str  # or "*"
    operation: str  # botocore's name (PutObject, SendMessageBatch, TransactWriteItems, ...) or "*"
    probability: float = 1.0
    when: str = "before"  # or "after"

    def matches(self, function: str, service: str, operation: str, when: str) -> bool:
        return (self.when == when and self.function in ("*", function) and self.service in ("*", service)
                and self.operation in ("*", operation))

    @classmethod
    def parse(cls, text: str) -> Fault:
        """FUNCTION:SERVICE:OPERATION[:PROBABILITY[:before|after]]"""
        parts = text.strip().split(":")
        if not 3 <= len(parts) <= 5:
            raise ValueError(f"a fault is FUNCTION:SERVICE:OPERATION[:PROBABILITY[:WHEN]], not {text!r}")
        probability = float(parts[3]) if len(parts) > 3 else 1.0
        when = parts[4] if len(parts) > 4 else "before"
        if when not in ("before", "after") or not 0 <= probability <= 1:
            raise ValueError(f"bad fault {text!r}")
        return cls(parts[0], parts[1], parts[2], probability, when)


class InjectedFault(ClientError):
    """What a struck call raises: a ClientError, as the SDK raises a service's error."""


class FaultPlan:
    def __init__(self, faults: list[Fault] | None = None, seed: int = 16) -> None:
        self.faults = list(faults or [])
        self.struck: Counter[tuple[str, str, str, str]] = Counter()
        self._random = random.Random(seed)  # noqa: S311 - repeatable faults, not secrets
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, text: str, seed: int = 16) -> FaultPlan:
        return cls([Fault.parse(item) for item in text.split(",") if item.strip()], seed)

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def strike(self, function: str, service: str, operation: str, when: str) -> None:
        with self._lock:
            hit = any(
                f.matches(function, service, operation, when) and self._random.random() < f.probability
                for f in self.faults
            )
            if hit:
                self.struck[(function, service, operation, when)] += 1
        if hit:
            code, status = _CODES.get(service, ("ServiceUnavailable", 503))
            raise InjectedFault(
                {"Error": {"Code": code, "Message": f"injected fault ({when} the call)"},
                 "ResponseMetadata": {"HTTPStatusCode": status}}, operation,
            )

    def guard(self, function: str, client: Any) -> Any:
        """Let this plan strike every call of one function's boto3 client."""
        service = client.meta.service_model.service_name

        def before(model: Any, **_: Any) -> None:
            self.strike(function, service, model.name, "before")

        def after(model: Any, http_response: Any, **_: Any) -> None:
            if http_response.status_code < 300:  # it took effect; the caller never hears so
                self.strike(function, service, model.name, "after")

        client.meta.events.register("before-call", before)
        client.meta.events.register(f"after-call.{client.meta.service_model.endpoint_prefix}", after)
        return client
