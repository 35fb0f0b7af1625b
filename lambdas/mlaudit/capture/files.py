"""Captured sources that arrive as files in the landing bucket, read by the import
function beside its own imports/: Bedrock's invocation logs under bedrock/ and DMS's
Parquet files under dms/. Each becomes the lines of an import (mapped events as JSON),
checked by the contract and stored exactly once like any imported line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from mlaudit.capture import bedrock, dms
from mlaudit.capture.tables import TableMapping, load
from mlaudit.imports.readers import Unreadable
from mlaudit.principal import Principal

# Landing bucket prefix -> the import format of the files there (imports/: by the name's suffix).
PREFIXES = {bedrock.KEY_PREFIX: "bedrock", dms.KEY_PREFIX: "dms"}
# Who the events of each captured source are from: the service that wrote the file.
SENDERS = {"bedrock": "aws.bedrock", "dms": "aws.dms"}


def captured_format(key: str) -> str | None:
    """bedrock or dms for a file of a captured source that holds records; None otherwise
    (another prefix, or a file of theirs that holds none)."""
    if key.startswith(bedrock.KEY_PREFIX):
        return "bedrock" if bedrock.is_log_file(key) else None
    if key.startswith(dms.KEY_PREFIX):
        return "dms" if dms.table_of(key) is not None else None
    return None


def sender(fmt: str, bucket: str) -> Principal:
    return Principal(kind="workload", actor_id=SENDERS[fmt], client_id=f"s3://{bucket}/{fmt}",
                     scopes=("events.write",))


class CapturedFiles:
    def __init__(self, tables: dict[str, TableMapping] | None = None, prompts: str = "hash") -> None:
        self._tables = tables
        self.prompts = prompts

    @property
    def tables(self) -> dict[str, TableMapping]:
        if self._tables is None:
            self._tables = load()
        return self._tables

    def lines(self, stream: IO[bytes], fmt: str, key: str,
              batch_rows: int = 1_000) -> Iterator[tuple[int, bytes | Unreadable | None]]:
        if fmt == "bedrock":
            return bedrock.read_log(stream, self.prompts)  # type: ignore[return-value]
        table = dms.table_of(key) or ""
        mapping = self.tables.get(table)
        if mapping is None:
            return iter([(0, Unreadable("unmapped_table", "tables.json has no mapping for this DMS table",
                                        "key"))])
        return dms.read_dms(stream, mapping, "/".join(key.split("/")[1:3]), batch_rows)
