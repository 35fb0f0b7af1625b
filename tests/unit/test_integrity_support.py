"""A small lake for the integrity tests: Parquet files written with the writer's
encoding, recorded through the IntegritySink, signed by the Checkpointer.
(No tests here; helpers shared by tests/unit/test_integrity_*.py.)"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

from mlaudit import leaf, parquet
from mlaudit.adapters.memory import MemoryBucket
from mlaudit.codec import canonical_json, format_timestamp
from mlaudit.integrity.primitives import records
from mlaudit.integrity.primitives.signing import LocalSigner
from mlaudit.integrity.services.checkpoint import Checkpointer
from mlaudit.integrity.services.sink import IntegritySink
from mlaudit.layout import LEAF_FIELDS, partition_prefix

T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
SIGNER = LocalSigner.generate("test-key")  # one key per test run: RSA generation is slow


def event(i: int, event_type: str, day: str) -> dict:
    r = {name: None for name in LEAF_FIELDS}
    r.update(
        event_id=f"{event_type[:4]}-{day}-{i:05d}",
        schema_version=1,
        event_type=event_type,
        occurred_at=format_timestamp(T0 + timedelta(milliseconds=1234 * i)),
        received_at=f"{day}T07:00:00.{i % 1000:03d}Z",
        actor_id="client-abc",
        actor_type="service",
        actor_roles=["ml"],
        client_id="client-abc",
        source_ip="10.0.0.1",
        user_agent="pytest",
        workload="fraud",
        environment="prod",
        model_id="fraud-model",
        model_version="3",
        prediction_id=f"p{i}",
        prediction_label="ok",
        prediction_score=i / 7,
        latency_ms=12.5,
        inputs=["s3://data/x"],
        outputs=[],
        features=canonical_json({"amount": i, "country": "DE"}),
        # personal data only as ciphertext, the subject only as a pseudonym
        subject_pseudonym=hashlib.sha256(f"subject-{i}".encode()).hexdigest(),
        personal_data=base64.b64encode(hashlib.sha512(f"secret-{i}".encode()).digest()).decode(),
        dq_status="pass",
        dq_violations=[],
    )
    r["leaf_hash"] = leaf.leaf_hash({k: v for k, v in r.items() if k != "leaf_hash"})
    return r


def parquet_file(events: list[dict]) -> bytes:
    return parquet.to_parquet_bytes(parquet.to_table(events))


class Lake:
    """Files: (day, event_type, count) each; checkpoints after the given file counts."""

    def __init__(self, store, signer=SIGNER, files=None, checkpoint_after=(2, 4), *,
                 entry_signer=None, entry_key=None, witness=None, log_id="mlaudit/audit") -> None:
        self.store = store
        self.signer = signer
        self.sink = IntegritySink(store, log_id=log_id, entry_signer=entry_signer)
        self.clock_now = T0
        self.checkpointer = Checkpointer(store, signer, log_id=log_id, clock=self.clock,
                                         entry_key=entry_key, witness=witness)
        self.keys: list[str] = []
        self.events: dict[str, list[dict]] = {}
        if witness is not None:
            self.checkpoint()  # as deployed: checkpoint 0 over the empty log comes first
        files = files or [
            ("2026-11-25", "prediction", 5),
            ("2026-11-25", "training_started", 1),
            ("2026-11-26", "prediction", 7),
            ("2026-11-26", "lineage", 3),
        ]
        for n, (day, event_type, count) in enumerate(files, start=1):
            self.add_file(day, event_type, count, name=f"f{n}")
            if n in checkpoint_after:
                self.checkpoint()

    def clock(self) -> datetime:
        return self.clock_now

    def add_file(self, day: str, event_type: str, count: int, name: str) -> str:
        events = [event(i + 1000 * len(self.keys), event_type, day) for i in range(count)]
        key = f"{partition_prefix(day, event_type)}{name}.parquet"
        body = parquet_file(events)
        assert self.store.create(key, body)
        self.sink.file_written(
            key,
            body,
            [bytes.fromhex(e["leaf_hash"]) for e in events],
            events[0]["event_id"],
            events[-1]["event_id"],
        )
        self.keys.append(key)
        self.events[key] = events
        return key

    def checkpoint(self):
        self.clock_now += timedelta(hours=1)
        return self.checkpointer.run()

    def public_pem(self) -> bytes:
        return self.signer.public_key_pem()


class RecordingBucket(MemoryBucket):
    """A MemoryBucket over the same objects that records what is read and listed."""

    def __init__(self, objects) -> None:
        super().__init__(objects)
        self.reads: list[str] = []
        self.listed: list[str] = []

    def get(self, key):
        self.reads.append(key)
        return super().get(key)

    def list(self, prefix, start_after=""):
        self.listed.append(prefix)
        return super().list(prefix, start_after)


def entry_key(index: int) -> str:
    return records.log_key(index)
