"""The capture function's service: SageMaker's state changes (an EventBridge rule invokes
the function with one event) and a DynamoDB stream's records (EventBridge Pipes invokes it
with a batch) -> contract events -> the ingest's own path, as POST /v1/events takes them:
the contract, data quality, claims per (sender, event_id) and the request, packs on the
queue. A redelivered event or batch stores nothing twice.

What a mapper or the contract refuses is not retried (it would be refused again): it goes
to the capture dead-letter queue with the path and the rule it breaks (`refused`), and the
rest of a batch is stored. What fails for a while (the queue, a table) raises, and Lambda
or Pipes delivers again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mlaudit.capture import dynamodb, sagemaker
from mlaudit.capture.common import Refused, contract_problems
from mlaudit.capture.tables import TableMapping
from mlaudit.errors import Conflict, InvalidEvents, TooLarge
from mlaudit.ingest.identity import RequestMeta
from mlaudit.principal import Principal

if TYPE_CHECKING:
    from mlaudit.bootstrap import Clients
    from mlaudit.functions import CaptureEnv

META = RequestMeta(source_ip=None, user_agent="mlaudit-capture")
SAGEMAKER = Principal(kind="workload", actor_id="aws.sagemaker", client_id="events.amazonaws.com",
                      scopes=("events.write",))


def stream_sender(table_arn: str) -> Principal:
    return Principal(kind="workload", actor_id="aws.dynamodb", client_id=table_arn, scopes=("events.write",))


class DeadLetters(Protocol):
    def send(self, body: Any, reasons: list[dict[str, Any]], source: str) -> None:
        """Keep an input that was refused, with why."""


@dataclass
class Outcome:
    """What one invocation came to (the function's answer, and its log line)."""

    stored: int = 0  # events accepted (stored now, or acknowledged as stored before)
    ignored: int = 0  # inputs whose change records nothing
    refused: list[dict[str, Any]] = field(default_factory=list)  # {"index", "errors"}

    def body(self) -> dict[str, Any]:
        return {"stored": self.stored, "ignored": self.ignored, "refused": self.refused}


class CaptureService:
    def __init__(self, *, ingest: Any, dead_letters: DeadLetters, tables: dict[str, TableMapping]) -> None:
        self.ingest = ingest  # IngestService (or its measured wrapper): the one claim path
        self.dead_letters = dead_letters
        self.tables = tables

    def sagemaker(self, envelope: Any) -> Outcome:
        outcome = Outcome()
        try:
            event = sagemaker.map_event(envelope)
        except Refused as refused:
            self._refuse(outcome, 0, envelope, [refused.problem()], "sagemaker")
            return outcome
        if event is None:
            outcome.ignored += 1
            return outcome
        self._store(outcome, [(0, event, envelope)], SAGEMAKER, "sagemaker")
        return outcome

    def stream(self, batch: Any) -> Outcome:
        outcome = Outcome()
        if not isinstance(batch, list):
            self._refuse(outcome, 0, batch, [{"path": "$", "rule": "type", "message": "a list of stream records"}],
                         "dynamodb")
            return outcome
        by_table: dict[str, list[tuple[int, dict[str, Any], Any]]] = {}
        for index, record in enumerate(batch):
            try:
                event = dynamodb.map_record(record, self.tables)
            except Refused as refused:
                self._refuse(outcome, index, record, [refused.problem()], "dynamodb")
                continue
            if event is None:
                outcome.ignored += 1
                continue
            by_table.setdefault(event["details"]["captured_from"]["table"], []).append((index, event, record))
        for table, items in by_table.items():
            self._store(outcome, items, stream_sender(table), "dynamodb")
        return outcome

    def _store(self, outcome: Outcome, items: list[tuple[int, dict[str, Any], Any]], sender: Principal,
               source: str) -> None:
        """The events through the ingest's path in one request; those the contract or an
        earlier event with the same id refuses are kept with their reasons, the rest stored."""
        checked = []
        for index, event, raw in items:
            problems = contract_problems(event, self.ingest.limits)
            if problems:
                self._refuse(outcome, index, raw, problems, source)
            else:
                checked.append((index, event, raw))
        for _ in range(2):  # once more without the events a conflict names
            if not checked:
                return
            body = json.dumps({"events": [event for _, event, _ in checked]}, ensure_ascii=False).encode()
            try:
                self.ingest.ingest(body, "application/json", sender, META)
            except TooLarge as error:  # larger than a request or a queue message: refused alone
                for index, _, raw in checked:
                    self._refuse(outcome, index, raw, [{"path": "$", "rule": error.code, "message": error.message}],
                                 source)
                return
            except (InvalidEvents, Conflict) as error:
                if error.code == "request_in_progress":
                    raise  # another delivery of these events is being stored: deliver again later
                named = {p["index"]: p for p in error.errors if "index" in p}
                if not named:
                    raise
                for position in sorted(named):
                    index, _, raw = checked[position]
                    self._refuse(outcome, index, raw, [{"path": named[position]["path"].split(".", 1)[-1],
                                                        "rule": named[position]["rule"],
                                                        "message": named[position]["message"]}], source)
                checked = [item for position, item in enumerate(checked) if position not in named]
                continue
            outcome.stored += len(checked)
            return
        raise RuntimeError("a capture request was refused twice")  # not reached: a conflict is settled once

    def _refuse(self, outcome: Outcome, index: int, raw: Any, problems: list[dict[str, Any]], source: str) -> None:
        self.dead_letters.send(raw, problems, source)
        outcome.refused.append({"index": index, "errors": problems})


class SqsDeadLetters:
    """The capture dead-letter queue: the refused input as the body, why in the attributes."""

    MAX_BODY = 200_000  # SQS takes 256 KiB with the attributes

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def send(self, body: Any, reasons: list[dict[str, Any]], source: str) -> None:
        text = json.dumps(body, ensure_ascii=False, default=str)
        if len(text.encode()) > self.MAX_BODY:
            text = json.dumps({"too_large_to_keep": True, "bytes": len(text.encode())})
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=text, MessageAttributes={
            "source": {"DataType": "String", "StringValue": source},
            "refused_because": {"DataType": "String", "StringValue": json.dumps(reasons)[:4000]},
        })


def build(env: CaptureEnv, clients: Clients) -> Any:
    """The capture function's service (mlaudit.functions names this builder)."""
    from mlaudit.bootstrap import build_ingest  # noqa: PLC0415 - the composition root's own ingest
    from mlaudit.capture.tables import load  # noqa: PLC0415

    # Its timeout is ingest's (mlaudit.functions): a claim younger than that is in flight.
    return CaptureService(ingest=build_ingest(env, clients),
                          dead_letters=SqsDeadLetters(clients("sqs"), env.capture_dlq_url), tables=load())
