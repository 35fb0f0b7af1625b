"""The verifier's column-wise leaf hashing equals the row-wise definition (mlaudit.leaf)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from mlaudit import leaf, parquet
from mlaudit.codec import canonical_json, format_timestamp
from mlaudit.layout import LEAF_FIELDS

T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def record(i: int, **overrides) -> dict:
    r = {name: None for name in LEAF_FIELDS}
    r.update(
        event_id=f"ev-{i:06d}",
        schema_version=1,
        event_type="prediction",
        occurred_at=format_timestamp(T0 + timedelta(milliseconds=1234 * i)),
        received_at=format_timestamp(T0 + timedelta(seconds=i)),
        actor_id="client-abc",
        actor_type="service",
        actor_roles=[],
        client_id="client-abc",
        inputs=[],
        outputs=[],
        dq_status="pass",
        dq_violations=[],
    )
    r.update(overrides)
    r["leaf_hash"] = leaf.leaf_hash({k: v for k, v in r.items() if k != "leaf_hash"})
    return r


def roundtrip(records):
    return parquet.read_parquet_bytes(parquet.to_parquet_bytes(parquet.to_table(records)))


def row_wise(table, event_type):
    return [bytes.fromhex(leaf.leaf_hash(leaf.leaf_record_from_row(row, event_type))) for row in table.to_pylist()]


text = st.one_of(st.none(), st.text(max_size=20).filter(lambda s: s.encode("utf-8", "ignore").decode() == s))
floats = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(text, floats, st.lists(st.text(max_size=8), max_size=3), text), min_size=1, max_size=8))
def test_column_wise_hashes_equal_row_wise_for_awkward_values(values):
    # Given values with quotes, backslashes, control characters, non-ASCII, odd floats
    records = [
        record(
            i,
            model_id=a,
            prediction_score=f,
            inputs=lst,
            personal_data=b,
            features=canonical_json({"k": a or "", "n": f}),
        )
        for i, (a, f, lst, b) in enumerate(values)
    ]
    table = roundtrip(records)
    # Then both ways of hashing give the writer's leaf hashes
    expected = [bytes.fromhex(r["leaf_hash"]) for r in records]
    assert leaf.table_leaf_hashes(table, "prediction") == expected
    assert row_wise(table, "prediction") == expected
    # and so does the verifier's reader, which keeps dictionary columns as dictionaries
    stored = parquet.to_parquet_bytes(parquet.to_table(records))
    assert leaf.table_leaf_hashes(parquet.read_for_hashing(stored), "prediction") == expected


def test_constant_and_null_columns_become_literals_with_the_same_bytes():
    records = [record(i, model_id="same", action=None, dq_violations=["a"]) for i in range(20)]
    stored = parquet.to_parquet_bytes(parquet.to_table(records))
    table = parquet.read_for_hashing(stored)
    assert pa_is_dictionary(table, "model_id")
    assert leaf.table_leaf_hashes(table, "prediction") == [bytes.fromhex(r["leaf_hash"]) for r in records]


def pa_is_dictionary(table, name):
    import pyarrow as pa

    return pa.types.is_dictionary(table.schema.field(name).type)


def test_event_type_comes_from_the_key_and_slices_hash_like_wholes():
    records = [record(i, dq_violations=["r1", 'q"2'] if i % 2 else [], model_id="m\\1") for i in range(50)]
    table = roundtrip(records)
    assert leaf.table_leaf_hashes(table, "prediction") == [bytes.fromhex(r["leaf_hash"]) for r in records]
    assert leaf.table_leaf_hashes(table, "lineage") != leaf.table_leaf_hashes(table, "prediction")
    part = table.slice(7, 20)
    assert leaf.table_leaf_hashes(part, "prediction") == row_wise(part, "prediction")
    assert (
        leaf.table_canonical_leaves(table, "prediction")[0]
        == canonical_json(leaf.leaf_record_from_row(table.to_pylist()[0], "prediction")).encode()
    )
    assert json.loads(leaf.table_canonical_leaves(table, "prediction")[3])["event_id"] == "ev-000003"
