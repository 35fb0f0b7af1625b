"""Streaming readers for import files: one event at a time, in bounded memory.

- JSON Lines: one contract event object per line, read with `readline(limit)`, so a
  line never takes more than `max_line_bytes` of memory (a longer one is skipped to its
  end and reported). Blank lines are skipped but keep their line numbers.
- Parquet: row group by row group (pyarrow's `iter_batches`), rows turned into the same
  JSON a client would send: timestamps as ISO 8601 (naive ones stay naive, and the
  contract refuses them), JSON columns written as text parsed back into objects, nulls
  left out. pyarrow is imported only here and only for Parquet.

Both yield `(line_number, bytes)` for a line to validate, or `(line_number, Unreadable)`
for one that cannot even be read; numbering starts at 1 (for Parquet: the row).
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from mlaudit.contract import JSON_FIELDS

FORMATS = ("jsonl", "parquet", "bedrock", "dms")  # the last two: mlaudit.capture
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
_JSON_COLUMNS = frozenset((*JSON_FIELDS, "personal_data"))
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class Unreadable:
    rule: str
    message: str
    path: str = "$"  # where in the line (a mapped source's record: the field it lacks)


def format_of(name: str) -> str | None:
    """jsonl or parquet from a file name's suffix (also .ndjson, .json, and .gz is not read)."""
    lowered = name.lower()
    return next((fmt for suffix, fmt in _SUFFIXES.items() if lowered.endswith(suffix)), None)


def read_jsonl(stream: IO[bytes], max_line_bytes: int) -> Iterator[tuple[int, bytes | Unreadable]]:
    number = 0
    while True:
        line = stream.readline(max_line_bytes + 1)
        if not line:
            return
        number += 1
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while (rest := stream.readline(_COPY_CHUNK)) and not rest.endswith(b"\n"):
                pass  # skip the rest of the long line without holding it
            yield number, Unreadable("max_line_bytes", f"a line is at most {max_line_bytes} bytes")
            continue
        line = line.strip()
        if number == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
        if line:
            yield number, line


def seekable(stream: IO[bytes], spool_bytes: int = 64 << 20) -> IO[bytes]:
    """A seekable copy of a stream Parquet can read (its footer is at the end): the stream
    itself when it seeks, else a temporary file that stays in memory up to `spool_bytes`."""
    if getattr(stream, "seekable", lambda: False)():
        return stream
    spool = tempfile.SpooledTemporaryFile(max_size=spool_bytes)  # noqa: SIM115 - returned open
    shutil.copyfileobj(stream, spool, _COPY_CHUNK)
    spool.seek(0)
    return spool  # type: ignore[return-value]


def read_parquet(stream: IO[bytes], batch_rows: int = 1_000) -> Iterator[tuple[int, bytes | Unreadable]]:
    import pyarrow as pa  # noqa: PLC0415 - only the Parquet path needs it
    import pyarrow.parquet as pq  # noqa: PLC0415

    try:
        parquet = pq.ParquetFile(seekable(stream))
    except (pa.ArrowException, OSError) as exc:
        yield 1, Unreadable("not_parquet", f"the file is not readable as Parquet ({type(exc).__name__})")
        return
    number = 0
    for batch in parquet.iter_batches(batch_size=batch_rows):
        for row in batch.to_pylist():
            number += 1
            try:
                yield number, json.dumps(_json_row(row), ensure_ascii=False, allow_nan=True).encode()
            except (TypeError, ValueError) as exc:
                yield number, Unreadable("unsupported_value", f"a value of type {_kind(exc)} has no JSON form")


def _kind(exc: Exception) -> str:
    text = str(exc)
    return text.split("type ", 1)[1].split(" ", 1)[0] if "type " in text else type(exc).__name__


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        if value is None:
            continue
        if name in _JSON_COLUMNS and isinstance(value, str):
            with contextlib.suppress(ValueError):  # else left as text: the contract wants an object
                value = json.loads(value)
        out[name] = _json_value(value)
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return value  # written as NaN / Infinity: the contract refuses it, naming the field
    return value
