"""The user's own names back in the server's errors. The server never echoes a name the
caller chose (a field or key: it could be personal data); it names it `<name sha256:…>`,
the first 8 hex digits of its SHA-256 (`mlaudit.errors.masked_name`). The CLI has the
file itself, so it can show the name where it came from: on this machine, to its owner."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mlaudit.errors import name_digest

MASKED = re.compile(r"<name sha256:([0-9a-f]{8})>")
MAX_LINES = 1_000  # rejected lines whose names are read back (the summary shows 20)


def unmask(text: str, names: dict[str, str]) -> str:
    """`text` with each masked name the file holds written out (as JSON, quoted)."""
    return MASKED.sub(lambda m: json.dumps(names[m.group(1)]) if m.group(1) in names else m.group(0), text)


def own_names(path: Path, report: dict[str, Any]) -> dict[str, str]:
    """digest -> name, of every key in the rejected lines of a JSON Lines file (or every
    column and field name of a Parquet file), as far as the report lists them."""
    lines = {r["line"] for r in report.get("rejections", [])[:MAX_LINES] if isinstance(r.get("line"), int)}
    if not lines or not any(MASKED.search(json.dumps(r)) for r in report.get("rejections", [])):
        return {}
    names: set[str] = set()
    if path.suffix.lower() == ".parquet":
        names |= _parquet_names(path)
    else:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):  # the import's numbering: every line counts
                if number in lines:
                    try:
                        _keys(json.loads(line), names)
                    except ValueError:
                        continue
                if number >= max(lines):
                    break
    return {name_digest(name): name for name in names}


def _keys(value: Any, into: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            into.add(str(key))
            _keys(item, into)
    elif isinstance(value, list):
        for item in value:
            _keys(item, into)


def _parquet_names(path: Path) -> set[str]:
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 - only for a Parquet file
    except ImportError:
        return set()
    names: set[str] = set()

    def walk(field: Any) -> None:
        names.add(field.name)
        for i in range(getattr(field.type, "num_fields", 0)):
            walk(field.type.field(i))

    for field in pq.read_schema(path):
        walk(field)
    return names
