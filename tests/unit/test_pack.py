"""Pack format 2: what ingest sends the writer, and what the writer refuses."""

from __future__ import annotations

import json

import pytest
from mlaudit.leaf import LEAF_ORDER
from mlaudit.pack import PackError, check_first_leaf, leaf_digests, pack_records, parse_pack, read_header, unpack


def records(n):
    base = dict.fromkeys(LEAF_ORDER)
    base.update(actor_roles=[], dq_violations=[], inputs=["s3://b/f"], outputs=[], schema_version=1,
                actor_id="svc", actor_type="service", client_id="svc", dq_status="pass", event_type="prediction",
                received_at="2026-11-26T06:00:01.000Z", model_id="m")
    return [{**base, "event_id": f"e{i}", "occurred_at": f"2026-11-26T06:00:0{i}.000Z", "prediction_score": i / 10}
            for i in range(n)]


def body(n=3):
    (pack,) = pack_records(records(n), "key", 100_000)
    return pack.body


def with_header(text, common):
    header, rest = text.split("\n", 1)
    doc = json.loads(header)
    doc["common"] = common(doc["common"])
    return json.dumps(doc, separators=(",", ":")) + "\n" + rest


def test_a_pack_reads_back_to_the_same_rows():
    table = parse_pack(body().encode())
    assert table.column("event_id").to_pylist() == ["e0", "e1", "e2"]
    assert table.column("inputs").to_pylist() == [["s3://b/f"]] * 3  # shared, repeated per row
    assert table.column("model_id").to_pylist() == ["m"] * 3
    assert table.column("action").null_count == 3
    assert [r["leaf_hash"] for r in unpack(body())] == table.column("leaf_hash").to_pylist()


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: {**c, "colour": "red"}, "not leaf fields"),
    (lambda c: {**c, "schema_version": "1"}, "schema_version has the wrong type"),
    (lambda c: {**c, "actor_id": None}, "actor_id has the wrong type"),
    (lambda c: {**c, "inputs": [1]}, "inputs has the wrong type"),
])
def test_a_header_that_does_not_fit_the_layout_is_refused(change, message):
    with pytest.raises(PackError, match=message):
        parse_pack(with_header(body(), change).encode())


def test_other_first_lines_are_refused():
    for first in (b"{not json", b'{"common":{},"format":1}', b"[]"):
        with pytest.raises(PackError):
            read_header(first)


def test_a_producer_with_another_leaf_encoding_fails_whole():
    # The same values, but a shared value changed after hashing: the first leaf no longer matches.
    with pytest.raises(PackError, match="leaf hash does not match"):
        parse_pack(with_header(body(), lambda c: {**c, "model_id": "other"}).encode())
    header, first, *_ = body().split("\n")
    with pytest.raises(PackError, match="fields differ"):
        check_first_leaf(read_header(header.encode()), first.replace('"event_id":"e0",', "").encode())


def test_bad_leaf_hashes_and_event_lines_are_refused():
    header, first, second, third = body().split("\n")
    start = second.index('"leaf_hash":"') + len('"leaf_hash":"')
    for broken, message in (
        (second[:start] + "A" + second[start:], "not 64 hex digits"),
        (second[:start] + second[start:start + 64].upper() + second[start + 64:], "not lower-case hex"),
        (second.replace('"prediction_score":0.1', '"prediction_score":"x"'), "JSON parse error"),
        (second.replace('"event_id":"e1"', '"event_id":"e1","colour":"red"'), "unexpected field"),
    ):
        with pytest.raises(PackError, match=message):
            leaf_digests(parse_pack("\n".join([header, first, broken, third]).encode()))
