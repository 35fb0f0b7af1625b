"""The spool on its own (no server): a replay from any sent position cuts the same
requests, and a lane left by a killed process is adopted whole, a torn last line aside."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from mlaudit_client.spool import SEAL, DiskSpool, MemorySpool, greedy_batch

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


def test_batches_name_their_lane_and_a_position_that_grows_and_replays_the_same(tmp_path):
    limits = {"max_events": 2, "max_body": 1_000_000, "max_line": 240_000}
    spool = DiskSpool(tmp_path, fsync=False, **limits)
    for i in range(5):
        spool.append(json.dumps({"n": i}).encode() + b"\n")
    spool.seal()
    reader, first = spool.next_batch()
    assert spool.next_batch()[1].at == first.at, "not acked: the same batch at the same position"
    spool.ack(reader, first)
    reader, second = spool.next_batch()
    assert first.at[0] == second.at[0] == spool.lane.path.name and first.at[1] < second.at[1]
    spool.forget_after_fork()  # the process dies before the second is acknowledged

    adopter = DiskSpool(tmp_path, fsync=False, **limits)
    _, replayed = adopter.next_batch()
    assert (replayed.at, replayed.lines) == (second.at, second.lines)


def test_a_memory_lane_counts_its_batches_and_a_forked_child_takes_its_own():
    spool = MemorySpool(lambda event: json.dumps(event).encode() + b"\n", max_events=2, max_body=1_000_000)
    for i in range(3):
        spool.append({"n": i})
    spool.seal()
    positions = []
    while (item := spool.next_batch()) is not None:
        positions.append(item[1].at)
        spool.ack(None, item[1])
    assert [p[1] for p in positions] == [0, 1] and positions[0][0] == positions[1][0] == spool.lane
    parent = spool.lane
    spool.forget_after_fork()  # in the child: the parent goes on at position 2 of its lane
    spool.append({"n": 3})
    spool.seal()
    assert spool.next_batch()[1].at == (spool.lane, 0) and spool.lane != parent
