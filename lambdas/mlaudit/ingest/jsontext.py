"""A request body's JSON text, before the contract reads it: UTF-8 or a 400 naming where
it broke (`check_utf8`), each key once (`unique_keys`), and the keys an error may show
(`shown_key`: a caller-chosen name is masked). Shared by the events route's full path
(`ingest.validation`) and OpenLineage (`lineage.openlineage`); below both, so neither
imports the other's module for it."""

from __future__ import annotations

import json
import re
from typing import Any

from mlaudit.contract import EVENT_FIELDS
from mlaudit.errors import Invalid, masked_name


class DuplicateKey(ValueError):
    """A JSON object with the same key twice (`unique_keys`, a json.loads object_pairs_hook)."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise DuplicateKey
    return value


# Keys shown as they are in an error's path: short identifiers (facets, outputs, the
# contract's fields); any other key is masked (`masked_name`).
_READABLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")


def shown_key(key: str) -> str:
    return key if _READABLE_KEY.fullmatch(key) else masked_name(key)


def invalid_utf8(body: bytes) -> tuple[int, list[str | int] | None] | None:
    """None for valid UTF-8; else the byte offset of the first invalid sequence, and the
    path (keys and indexes) to the key or string that holds it (None if the rest of the
    body is not JSON either). Only refused bodies pay for the search."""
    try:
        body.decode("utf-8")
        return None
    except UnicodeDecodeError as error:
        offset = error.start
    text = body.decode("utf-8", "surrogateescape")  # each invalid byte -> one lone surrogate
    at = len(body[:offset].decode("utf-8"))
    # The first invalid byte becomes a character the body does not hold, so the parsed
    # string that holds it is found by looking for it.
    marker = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in text)
    try:
        parsed = json.loads(text[:at] + marker + text[at + 1:], object_pairs_hook=list)
    except (ValueError, RecursionError):
        return offset, None
    return offset, _path_to(parsed, marker, [])


def _path_to(value: Any, marker: str, path: list[str | int]) -> list[str | int] | None:
    if isinstance(value, str):
        return path if marker in value else None
    if isinstance(value, list) and value and all(type(v) is tuple for v in value):  # an object's pairs
        for key, item in value:
            if marker in key:  # (a key holding it is masked: the marker is not a readable character)
                return [*path, key]
            if (found := _path_to(item, marker, [*path, key])) is not None:
                return found
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _path_to(item, marker, [*path, index])) is not None:
                return found
    return None


def _field_or_key(part: str, depth: int) -> str:
    return (part if part in EVENT_FIELDS else masked_name(part)) if depth == 0 else shown_key(part)


def check_utf8(body: bytes) -> None:
    """A request body must be UTF-8 (RFC 8259): else 400 naming the field (or key, masked)
    that holds the first invalid byte."""
    found = invalid_utf8(body)
    if found is None:
        return
    offset, path = found
    problem: dict[str, Any] = {"path": "$", "rule": "utf8",
                               "message": f"not valid UTF-8 (the byte at offset {offset} of the body)"}
    if path:
        parts = path[2:] if len(path) >= 2 and path[0] == "events" and type(path[1]) is int else path
        index = path[1] if parts is not path else 0
        problem = {"index": index, **problem, "path": f"events[{index}]" + "".join(
            f"[{part}]" if type(part) is int else f".{_field_or_key(part, depth)}" for depth, part in enumerate(parts))}
    raise Invalid("invalid_utf8", "Request body is not valid UTF-8; nothing was stored.", [problem])
