"""The byte forms that storage and hashing depend on: canonical JSON and timestamps.

Written once here so that the contract (`events`), the leaf encoding (`leaf`), the
queue packs (`pack`) and the integrity records all agree to the byte
(docs/integrity.md, "Notation"). No pyarrow here: the ingest function imports it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def canonical_json(value: Any) -> str:
    """The one JSON form used for storage and hashing: sorted keys, no spaces, ASCII
    (\\u escapes), floats as Python's repr. This encoder is its definition."""
    return _CANONICAL.encode(value)


_FAST_SORTED = msgspec.json.Encoder(order="sorted")
# Sorted keys, msgspec's spelling: canonical only where `canonical_bytes_fast` says so.
encode_sorted = _FAST_SORTED.encode
_FAST_AS_BUILT = msgspec.json.Encoder()
# "Plain" floats, which msgspec writes exactly as Python's repr does: 0, and
# PLAIN_FLOAT_LOW <= |x| < PLAIN_FLOAT_HIGH. Outside, repr uses exponents that msgspec
# spells differently (1e+16 and 2.5e-07 against 1e16 and 2.5e-7), and msgspec writes
# NaN as null; NaN and infinities fail the test too. Hot loops spell `plain_float` inline.
PLAIN_FLOAT_LOW, PLAIN_FLOAT_HIGH = 1e-4, 1e16


def plain_float(value: float) -> bool:
    """Whether the fast encoder writes this float exactly as `canonical_json` does."""
    return value == 0.0 or PLAIN_FLOAT_LOW <= abs(value) < PLAIN_FLOAT_HIGH


def canonical_bytes_fast(value: Any, floats_plain: bool, *, sort_keys: bool = True) -> bytes:
    """`canonical_json(value)` as ASCII bytes, for JSON values (dict, list, str, int,
    float, bool, None); about 3x faster when the caller has seen that every float in it
    is plain (`plain_float`). Text outside printable ASCII (msgspec writes it raw, not
    \\u-escaped) and lone surrogates go the slow way. Tests compare both ways with
    hypothesis. `sort_keys=False` skips sorting on the fast way: canonical only for dicts
    built in sorted key order (a leaf record), or where key order does not matter."""
    fast = fast_canonical_texts([value], sort_keys=sort_keys) if floats_plain else None
    return fast[0] if fast else _CANONICAL.encode(value).encode("ascii")


def fast_canonical_texts(values: list[Any], *, sort_keys: bool = True) -> list[bytes] | None:
    """The fast way of `canonical_bytes_fast` for values whose floats the caller has seen
    are all plain, checked once for them all: their texts, or None when one of them must
    go the slow way."""
    try:
        texts = list(map((_FAST_SORTED if sort_keys else _FAST_AS_BUILT).encode, values))
    except (TypeError, UnicodeEncodeError):
        return None
    joined = b"".join(texts)
    return texts if joined.isascii() and b"\x7f" not in joined else None


def canonical_json_fast(value: Any, floats_plain: bool) -> str:
    """`canonical_bytes_fast`, as text."""
    return canonical_bytes_fast(value, floats_plain).decode("ascii")


def format_timestamp(value: datetime) -> str:
    """UTC, millisecond precision, 'Z': the one timestamp form in canonical records."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" off
