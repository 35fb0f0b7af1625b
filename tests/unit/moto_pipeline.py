"""In-process pipeline pieces on moto: real adapters, real DynamoDB/S3/SQS semantics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from mlaudit.adapters.bucket import S3Bucket
from mlaudit.adapters.idempotency import DynamoIdempotencyStore
from mlaudit.adapters.lanes import DynamoLanes
from mlaudit.adapters.ledger import DynamoLedger
from mlaudit.adapters.queue import SqsQueue
from mlaudit.ingest.identity import RequestMeta
from mlaudit.ingest.lanes import Lane
from mlaudit.ingest.request import IngestLimits
from mlaudit.ingest.service import IngestService
from mlaudit.pack import from_queue
from mlaudit.principal import Principal
from mlaudit.routes import match
from mlaudit.writer import Message, WriterService

WORKLOAD = Principal(kind="workload", actor_id="client-abc", client_id="client-abc", scopes=("events.write",))
META = RequestMeta(source_ip="10.0.0.1", user_agent="pytest")
NOW = datetime(2026, 11, 26, 7, 0, 0, tzinfo=UTC)
EVENTS_ROUTE = match("POST", "/v1/events")[0]


def create_pk_table(dynamodb: Any, name: str) -> None:
    """A table keyed by the string "pk", on demand: the shape of every table the functions use."""
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])


class Pipeline:
    """Ingest -> SQS -> writer on moto, driven by hand so tests choose every step."""

    def __init__(self, clock=lambda: NOW) -> None:
        self.s3 = boto3.client("s3")
        self.sqs = boto3.client("sqs")
        self.ddb = boto3.client("dynamodb")
        kms = boto3.client("kms")
        self.key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        self.bucket = "audit"
        self.s3.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
        self.queue_url = self.sqs.create_queue(QueueName="events")["QueueUrl"]
        for table in ("idempotency", "ledger"):
            create_pk_table(self.ddb, table)
        self.limits = IngestLimits()
        self.ingest = IngestService(
            store=DynamoIdempotencyStore(self.ddb, "idempotency", "ledger"),
            queue=SqsQueue(self.sqs, self.queue_url), limits=self.limits, clock=clock,
            lanes=DynamoLanes(self.ddb, "idempotency"),
        )
        self.writer = WriterService(
            objects=S3Bucket(self.s3, self.bucket, self.key_id),
            ledger=DynamoLedger(self.ddb, "ledger"), in_flight=timedelta(minutes=15), clock=clock,
        )

    def post(self, body: bytes | str, principal: Principal = WORKLOAD, content_type="application/json",
             content_encoding: str | None = None, lane: Lane | None = None):
        """(status, body) as POST /v1/events answers: the route's status, the service's body."""
        if isinstance(body, str):
            body = body.encode()
        answer = self.ingest.ingest(body, content_type, principal, META, content_encoding=content_encoding,
                                    lane=lane)
        return EVENTS_ROUTE.status, answer

    def fail_first_send(self, monkeypatch: Any) -> list[Any]:
        """The queue fails the first send_packs (no pack sent) and takes the next ones;
        returns each call's packs."""
        real, sent = self.ingest.queue.send_packs, []

        def flaky(packs: Any) -> None:
            sent.append(packs)
            if len(sent) == 1:
                raise ConnectionError("queue down")
            real(packs)

        monkeypatch.setattr(self.ingest.queue, "send_packs", flaky)
        return sent

    def receive(self, limit: int = 100) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while len(received) < limit:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                VisibilityTimeout=30,
            )
            if not answer.get("Messages"):
                break
            received.extend(answer["Messages"])
        return received

    @staticmethod
    def pack_body(message: dict[str, Any]) -> str:
        """The pack a received message carries (ingest sends it deflated)."""
        encoding = (message.get("MessageAttributes") or {}).get("pack_encoding", {}).get("StringValue")
        return from_queue(message["Body"], encoding)

    @staticmethod
    def to_messages(raw: list[dict[str, Any]]) -> list[Message]:
        def attribute(message: dict[str, Any], name: str) -> str | None:
            return (message.get("MessageAttributes") or {}).get(name, {}).get("StringValue")

        return [Message(m["MessageId"], attribute(m, "pack_id"), from_queue(m["Body"], attribute(m, "pack_encoding")),
                        attribute(m, "pack_seal")) for m in raw]

    def drain(self) -> list[str]:
        """Receive everything, write it, delete what succeeded; returns failed ids."""
        raw = self.receive()
        report = self.writer.process(self.to_messages(raw))
        for m in raw:
            if m["MessageId"] not in report.failed_message_ids:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return report.failed_message_ids

    def objects(self) -> list[str]:
        answer = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="events/")
        return sorted(o["Key"] for o in answer.get("Contents", []))

    def rows(self) -> list[dict[str, Any]]:
        from mlaudit.layout import parse_partition
        from mlaudit.parquet import read_parquet_bytes

        rows = []
        for key in self.objects():
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            event_date, event_type = parse_partition(key)
            for row in read_parquet_bytes(body).to_pylist():
                rows.append({**row, "event_type": event_type, "event_date": event_date})
        return rows
