"""In-memory adapters: benchmarks measure our code, not a network or moto."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlaudit.ingest.request import IngestLimits
from mlaudit.ingest.service import Claim
from mlaudit.pack import Pack
from mlaudit.writer import LedgerEntry


class MemoryStore:
    def __init__(self) -> None:
        self.items: dict[str, Any] = {}

    def claim(self, key: str, fingerprint: str, now: datetime, limits: IngestLimits) -> Claim:
        self.items[key] = fingerprint
        return Claim("new", now)

    def complete(self, key: str, response: dict[str, Any], now: datetime, limits: IngestLimits) -> None:
        self.items[key] = response

    def release(self, key: str) -> None:
        self.items.pop(key, None)


class MemoryQueue:
    def __init__(self) -> None:
        self.packs: list[Pack] = []

    def send_packs(self, packs: list[Pack]) -> None:
        self.packs.extend(packs)


class MemoryObjects:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def exists(self, key: str) -> bool:
        return key in self.objects

    def get(self, key: str) -> bytes:
        return self.objects[key]

    def put(self, key: str, body: bytes) -> None:
        self.objects[key] = body


class MemoryLedger:
    def __init__(self) -> None:
        self.entries: dict[str, LedgerEntry] = {}

    def get(self, pack_ids: list[str]) -> dict[str, LedgerEntry]:
        return {p: self.entries[p] for p in pack_ids if p in self.entries}

    def put(self, entries: dict[str, LedgerEntry]) -> None:
        self.entries.update(entries)
