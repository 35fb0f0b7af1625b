"""The incremental signer: its state is the log's frontier, read from the right-edge tiles
and checked against the signed root; a run reads what is new plus a handful of objects,
and proofs come from tiles, never from the whole log."""

from __future__ import annotations

import hashlib
import random

import pytest
from mlaudit.adapters.memory import MemoryBucket
from mlaudit.integrity.primitives import merkle, records, tiles
from mlaudit.integrity.services.checkpoint import Checkpointer, LogRewritten, latest_checkpoint
from mlaudit.integrity.services.proofs import ProofService, check_consistency, check_receipt

from tests.unit.test_integrity_support import SIGNER, Lake, RecordingBucket


def leaves(n: int, start: int = 0) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(start, start + n)]


@pytest.mark.parametrize("seed", range(6))
def test_tiles_grown_in_any_steps_give_every_node_and_proof_of_the_tree(seed):
    rng = random.Random(seed)
    store, size, all_leaves = MemoryBucket(), 0, []
    for _ in range(rng.randint(2, 6)):
        step = rng.choice([1, 2, 255, 256, 257, rng.randint(1, 3000)])
        new = leaves(step, size)
        assert tiles.extend(store, tiles.TileReader(store, size), new) == []
        size += step
        all_leaves += new
        reader = tiles.TileReader(store, size)
        tree = merkle.Tree(all_leaves)
        assert reader.compact_range().root() == tree.root
        for index in {0, size // 3, size - 1}:
            assert merkle.inclusion_path(index, size, reader.node) == tree.inclusion_proof(index)
        first = rng.randint(1, size)
        assert merkle.consistency_path(first, size, reader.node) == tree.consistency_proof(first)
        # The frontier and the last leaf's path come from one tile per 8 levels: the right edge.
        cold = tiles.TileReader(store, size)
        cold.compact_range(), cold.last_leaf()
        assert cold.reads <= len(tiles.right_edge(size))


def test_a_cold_signer_reads_what_is_new_and_the_right_edge_never_the_history():
    # Given a log of 600 entries signed over 30 checkpoints, then 7 more entries
    lake = Lake(MemoryBucket(), files=[("2026-11-26", "prediction", 1)], checkpoint_after=())
    for n in range(30):
        for m in range(20):
            lake.add_file("2026-11-26", "prediction", 1, name=f"f{n}-{m}")
        lake.checkpoint()
    for m in range(7):
        lake.add_file("2026-11-27", "prediction", 1, name=f"late{m}")
    signed = latest_checkpoint(lake.store).body["tree_size"]
    store = RecordingBucket(lake.store.objects)
    # When a new container signs
    checkpoint = Checkpointer(store, SIGNER, log_id="mlaudit/audit", clock=lake.clock).run()
    # Then it signed the whole log, listing nothing and reading only the new entries, the
    # last signed one, the right-edge tiles and the latest checkpoint
    assert checkpoint.body["tree_size"] == signed + 7
    assert checkpoint.body["root"] == merkle.root(
        [records.entry_leaf(store.objects[records.log_key(i)]) for i in range(signed + 7)]).hex()
    assert store.listed == []
    entries = sorted(k for k in store.reads if k.startswith(records.LOG))
    assert entries == [records.log_key(i) for i in range(signed - 1, signed + 7)]
    assert len([k for k in store.reads if k.startswith(records.TILES)]) <= len(tiles.right_edge(signed))
    # And a receipt and a consistency proof are built from a few tiles, not the log
    store.reads.clear()
    event_id = lake.events[lake.keys[3]][0]["event_id"]
    receipt = ProofService(store).receipt(event_id, event_date="2026-11-26", event_type="prediction")
    assert check_receipt(receipt, SIGNER.public_key_pem()) == []
    assert [k for k in store.reads if k.startswith(records.LOG)] == [records.log_key(3)]
    older = records.decode(store.objects[records.checkpoint_key(5)], "c")["checkpoint"]
    proof = ProofService(store).consistency(older["tree_size"], checkpoint.body["tree_size"])
    assert check_consistency(proof, older, checkpoint.body)


def test_a_run_checks_a_bounded_number_of_new_entries_and_the_next_one_goes_on():
    lake = Lake(MemoryBucket(), files=[("2026-11-26", "prediction", 1)], checkpoint_after=())
    for m in range(9):
        lake.add_file("2026-11-26", "prediction", 1, name=f"g{m}")
    signer = Checkpointer(lake.store, SIGNER, log_id="mlaudit/audit", clock=lake.clock, max_new_entries=4)
    assert [signer.run().body["tree_size"] for _ in range(4)] == [4, 8, 10, 10]


def test_a_lake_from_before_tiles_gets_them_once_from_its_leaf_segments():
    # Given a lake signed by the old signer: leaf segments, no tiles
    lake = Lake(MemoryBucket())
    size = latest_checkpoint(lake.store).body["tree_size"]
    segment = b"".join(records.entry_leaf(lake.store.get(records.log_key(i))) for i in range(size))
    for key in [k for k in lake.store.objects if k.startswith(records.TILES)]:
        del lake.store.objects[key]
    lake.store.objects[records.log_leaves_key(0, size)] = segment
    # When the signer runs, it rebuilds the tiles (checked against the signed root) and signs on
    signer = Checkpointer(lake.store, SIGNER, log_id="mlaudit/audit", clock=lake.clock)
    lake.add_file("2026-11-27", "prediction", 2, name="after")
    signed = signer.run()
    assert signer.rebuilt and signed.body["tree_size"] == size + 1
    assert tiles.TileReader(lake.store, size + 1).compact_range().root().hex() == signed.body["root"]
    # A damaged tile is rebuilt the same way; from the entries, a rewritten one is refused
    (edge,) = tiles.right_edge(size + 1)
    lake.store.objects[edge] = b"\0" * len(lake.store.objects[edge])
    assert Checkpointer(lake.store, SIGNER, log_id="mlaudit/audit", clock=lake.clock).run().body["tree_size"] == 5
    lake.store.objects[records.log_key(2)] = lake.store.objects[records.log_key(1)]
    for key in [k for k in lake.store.objects if k.startswith((records.TILES, records.LOG_LEAVES))]:
        del lake.store.objects[key]
    with pytest.raises(LogRewritten, match="no longer give checkpoint"):
        Checkpointer(lake.store, SIGNER, log_id="mlaudit/audit", clock=lake.clock).run()


def test_the_signer_refuses_an_entry_of_another_log():
    lake = Lake(MemoryBucket(), log_id="mlaudit/other")  # entries and checkpoints of mlaudit/other
    signer = Checkpointer(lake.store, SIGNER, log_id="mlaudit/other", clock=lake.clock)
    lake.sink.log.log_id = "mlaudit/audit"  # a writer configured for another bucket appends here
    lake.add_file("2026-11-27", "prediction", 2, name="stray")
    from mlaudit.integrity.services.checkpoint import UnauthenticatedEntry

    with pytest.raises(UnauthenticatedEntry, match="belongs to log mlaudit/audit"):
        signer.run()
    assert latest_checkpoint(lake.store).body["tree_size"] == 4
