"""The spool on its own (no server): a replay from any sent position cuts the same
requests, and a lane left by a killed process is adopted whole, a torn last line aside."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from mlaudit_client.spool import SEAL, DiskSpool, greedy_batch

lines = st.lists(st.one_of(st.just(b""), st.binary(min_size=1, max_size=60).map(lambda b: b.hex().encode())),
                 max_size=60)


@given(lines, st.integers(1, 7), st.integers(40, 400))
def test_a_replay_from_any_batch_boundary_cuts_the_same_batches(items, max_events, max_body):
    data = b"".join(item + b"\n" for item in items) + SEAL  # "" items are seals
    def cut(start):
        batches = []
        while True:
            batch, start = greedy_batch(data, start, max_events, max_body)
            if not batch:
                return batches
            batches.append((batch, start))
    first = cut(0)
    assert [line for batch, _ in first for line in batch] == [item for item in items if item]
    for i, (_, resume) in enumerate(first):
        assert cut(resume) == first[i + 1:], "a replay from a sent batch's end sends the rest unchanged"
    for batch, _ in first:
        assert len(batch) <= max_events
        assert len(batch) == 1 or sum(len(line) + 1 for line in batch) + 13 <= max_body


def test_a_killed_processs_lane_is_adopted_and_its_torn_last_line_dropped(tmp_path):
    limits = {"max_events": 500, "max_body": 1_000_000, "max_line": 240_000}
    first = DiskSpool(tmp_path, fsync=False, **limits)
    for i in range(5):
        first.append(json.dumps({"n": i}).encode() + b"\n")
    first.seal()
    reader, batch = first.next_batch()
    first.ack(reader, batch)  # sent: 0-4
    for i in range(5, 8):
        first.append(json.dumps({"n": i}).encode() + b"\n")
    first.append(b'{"n": 8, "torn')  # the write a machine crash cut short
    first.forget_after_fork()  # the process dies: its descriptors close, its flock goes

    second = DiskSpool(tmp_path, fsync=False, **limits)
    assert len(second.orphans) == 1 and second.orphans[0].count_events() == 3
    reader, batch = second.next_batch()
    assert [json.loads(line)["n"] for line in batch.lines] == [5, 6, 7]
    second.ack(reader, batch)
    assert second.next_batch() is None and not second.orphans, "drained, then removed"
    assert [p.name for p in tmp_path.glob("lane-*")] == [second.lane.path.name]
    assert second.close() and not list(tmp_path.glob("lane-*"))
