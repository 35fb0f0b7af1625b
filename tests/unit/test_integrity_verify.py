"""The verifier passes an untouched lake and names every kind of tampering."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from mlaudit.adapters.memory import MemoryBucket
from mlaudit.integrity.primitives import records
from mlaudit.integrity.primitives.signing import LocalSigner, load_public_key
from mlaudit.integrity.services.checkpoint import SignedCheckpoint, load_checkpoint
from mlaudit.integrity.verifier import Verifier
from mlaudit.integrity.verifier.command import main

from tests.unit.test_integrity_support import SIGNER, Lake, RecordingBucket, parquet_file

KEY = load_public_key(SIGNER.public_key_pem())


def verify(store, **kwargs):
    return Verifier(store, KEY, jobs=1, **kwargs).run()


@pytest.fixture
def lake():
    return Lake(MemoryBucket())


def test_untouched_lake_passes(lake):
    report = verify(lake.store)
    assert report.ok, report.text()
    assert report.files_checked == 4 and report.events_checked == 16
    assert report.log_size == 4 and report.checkpoint["tree_size"] == 4


def test_entries_after_the_latest_checkpoint_are_a_note_not_a_problem(lake):
    lake.add_file("2026-11-26", "prediction", 2, name="late")
    report = verify(lake.store)
    assert report.ok and any("not signed yet" in n for n in report.notes)


def test_modified_parquet_file_names_the_file_and_the_event(lake):
    # Given an attacker rewrites one value of one event in a stored file
    key = lake.keys[2]
    events = [dict(e) for e in lake.events[key]]
    events[3]["prediction_label"] = "fraud"
    lake.store.put(key, parquet_file(events))
    report = verify(lake.store)
    assert {"modified_file", "event_modified"} <= report.kinds()
    assert any(events[3]["event_id"] in p.where for p in report.problems)
    assert all(key in p.where for p in report.problems)


def test_changed_value_with_recomputed_leaf_hash_still_breaks_the_file_root(lake):
    from mlaudit import leaf

    key = lake.keys[0]
    events = [dict(e) for e in lake.events[key]]
    events[1]["model_version"] = "4"
    events[1]["leaf_hash"] = leaf.leaf_hash({k: v for k, v in events[1].items() if k != "leaf_hash"})
    lake.store.put(key, parquet_file(events))
    report = verify(lake.store)
    assert {"modified_file", "file_root_mismatch"} <= report.kinds()
    assert "event_modified" not in report.kinds()


def test_deleted_file(lake):
    del lake.store.objects[lake.keys[1]]
    report = verify(lake.store)
    assert report.kinds() == {"deleted_file"}
    assert report.problems[0].where == lake.keys[1]


def test_foreign_file(lake):
    stray = "events/event_date=2026-11-26/event_type=prediction/stray.parquet"
    lake.store.put(stray, lake.store.get(lake.keys[2]))
    report = verify(lake.store)
    assert report.kinds() == {"foreign_file"} and report.problems[0].where == stray


def test_edited_manifest(lake):
    key = records.manifest_key(lake.keys[0])
    manifest = json.loads(lake.store.get(key))
    manifest["record_count"] = 4
    lake.store.put(key, records.encode(manifest))
    report = verify(lake.store)
    assert "manifest_modified" in report.kinds() and "manifest_mismatch" in report.kinds()
    assert all(p.where == key for p in report.problems)


def test_reordered_log(lake):
    first, second = records.log_key(1), records.log_key(2)
    a, b = lake.store.get(first), lake.store.get(second)
    lake.store.put(first, b)
    lake.store.put(second, a)
    report = verify(lake.store)
    assert {"log_reordered", "log_chain_broken", "checkpoint_root_mismatch"} <= report.kinds()
    assert any("log index 1" in p.where for p in report.problems)


def test_truncated_log(lake):
    del lake.store.objects[records.log_key(3)]
    report = verify(lake.store)
    assert {"log_truncated", "foreign_file"} <= report.kinds()
    assert any(p.kind == "foreign_file" and p.where == lake.keys[3] for p in report.problems)


def test_log_gap(lake):
    del lake.store.objects[records.log_key(1)]
    report = verify(lake.store)
    assert "log_gap" in report.kinds() and any(p.where == "log index 1" for p in report.problems)


def test_forged_checkpoint_signature(lake):
    # Given someone re-signs the latest checkpoint with their own key over a different root
    key = records.checkpoint_key(1)
    forged = SignedCheckpoint.decode(lake.store.get(key))
    body = dict(forged.body, root="ab" * 32)
    lake.store.put(key, SignedCheckpoint(body, LocalSigner.generate().sign(records.encode(body))).encode())
    report = verify(lake.store)
    assert report.kinds() == {"checkpoint_bad_signature"}
    assert "checkpoint 1" in report.problems[0].where


def test_rolled_back_checkpoint_signed_with_the_real_key(lake):
    # Given a signer run that signs an older, smaller log head after a bigger one
    latest = load_checkpoint(lake.store, 1)
    body = records.checkpoint_body(
        log_id="mlaudit/audit",
        seq=2,
        tree_size=2,
        root=load_checkpoint(lake.store, 0).body["root"],
        time="2026-11-26T11:00:00.000Z",
        prev=latest.sha256,
        key_id="test-key",
    )
    lake.store.put(records.checkpoint_key(2), SignedCheckpoint(body, SIGNER.sign(records.encode(body))).encode())
    report = verify(lake.store)
    assert report.kinds() == {"checkpoint_rollback"}


def test_replayed_checkpoint(lake):
    # Given the latest checkpoint object replaced by an older, validly signed one
    lake.store.put(records.checkpoint_key(1), lake.store.get(records.checkpoint_key(0)))
    report = verify(lake.store)
    assert {"checkpoint_replayed", "checkpoint_chain_broken"} <= report.kinds()


def test_deleted_latest_checkpoint_is_caught_with_a_trusted_copy(lake):
    trusted = load_checkpoint(lake.store, 1)
    del lake.store.objects[records.checkpoint_key(1)]
    assert verify(lake.store).ok  # alone, an older head is indistinguishable from a slow signer
    report = verify(lake.store, trusted_checkpoint=trusted)
    assert report.kinds() == {"checkpoint_rollback"}


def test_date_range_limits_the_files_checked(lake):
    del lake.store.objects[lake.keys[0]]  # a 2026-11-25 file
    report = verify(lake.store, from_date="2026-11-26", to_date="2026-11-26")
    assert report.ok and report.files_checked == 2


def test_worker_processes_give_the_same_report(lake):
    lake.store.put(lake.keys[2], parquet_file([dict(e, true_label="x") for e in lake.events[lake.keys[2]]]))
    serial = verify(lake.store)
    parallel = Verifier(lake.store, KEY, jobs=2).run()
    assert serial.problems == parallel.problems and serial.events_checked == parallel.events_checked


def test_cli_exit_status_and_report(lake, tmp_path, capsys):
    pem = tmp_path / "key.pem"
    pem.write_bytes(SIGNER.public_key_pem())
    assert main(["--bucket", "audit", "--public-key", str(pem)], store=lake.store) == 0
    assert "OK" in capsys.readouterr().out
    del lake.store.objects[lake.keys[1]]
    assert main(["--bucket", "audit", "--public-key", str(pem)], store=lake.store) == 1
    out = capsys.readouterr().out
    assert "[deleted_file]" in out and lake.keys[1] in out
    event_id = lake.events[lake.keys[2]][4]["event_id"]
    assert main(["--bucket", "audit", "--public-key", str(pem), "--event-id", event_id], store=lake.store) == 0
    assert main(["--bucket", "audit", "--public-key", str(pem), "--consistency", "0", "1"], store=lake.store) == 0
    assert main(["--bucket", "audit", "--public-key", str(pem), "--event-id", "nope"], store=lake.store) == 1


def test_a_stale_latest_checkpoint_is_flagged_when_asked(lake):
    from datetime import timedelta

    from tests.unit.test_integrity_support import T0

    # The lake's last checkpoint was signed at T0 + 2 h
    fresh = verify(lake.store, max_checkpoint_age=timedelta(hours=2), now=T0 + timedelta(hours=3))
    assert fresh.ok
    stale = verify(lake.store, max_checkpoint_age=timedelta(hours=2), now=T0 + timedelta(hours=9))
    assert stale.kinds() == {"checkpoint_stale"}


def test_manifest_event_ids_must_match_the_file(lake):
    # Given a manifest edited consistently everywhere but its first event id
    key = records.manifest_key(lake.keys[0])
    manifest = json.loads(lake.store.get(key))
    manifest["first_event_id"] = "forged"
    lake.store.put(key, records.encode(manifest))
    report = verify(lake.store)
    assert {"manifest_modified", "manifest_mismatch"} <= report.kinds()
    assert any("first_event_id" in p.detail for p in report.problems)


# -- never OK about nothing -----------------------------------------------------------------------


def test_a_range_holding_nothing_is_a_failure_that_says_so(lake, tmp_path, capsys):
    report = verify(lake.store, from_date="2027-01-01")
    assert report.kinds() == {"nothing_verified"} and report.files_checked == 0
    assert "event_date 2027-01-01" in report.problems[0].where
    assert verify(MemoryBucket()).kinds() == {"nothing_verified"}  # an empty lake proves nothing
    pem = tmp_path / "key.pem"
    pem.write_bytes(SIGNER.public_key_pem())
    assert main(["--bucket", "audit", "--public-key", str(pem), "--from", "2027-01-01"], store=lake.store) == 1
    assert "[nothing_verified]" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-1-5", "yesterday", "2026-11-31"])
def test_a_malformed_date_is_refused(lake, tmp_path, capsys, bad):
    pem = tmp_path / "key.pem"
    pem.write_bytes(SIGNER.public_key_pem())
    with pytest.raises(SystemExit) as exited:
        main(["--bucket", "audit", "--public-key", str(pem), "--to", bad], store=lake.store)
    assert exited.value.code == 2 and "is not a date" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--from"):
        Verifier(lake.store, KEY, from_date=bad)


# -- since a trusted checkpoint ---------------------------------------------------------------------


def grown(lake, days: int, per_day: int = 3, first: int = 0):
    """More days of files after the lake's checkpoints, each day signed at its noon."""
    for day in range(first, first + days):
        date = f"2026-12-{day + 1:02d}"
        for n in range(per_day):
            lake.add_file(date, "prediction", 2, name=f"d{day}-{n}")
        lake.clock_now = datetime(2026, 12, day + 1, 11, tzinfo=UTC)
        lake.checkpoint()


def test_since_a_trusted_checkpoint_only_what_is_new_is_read(lake):
    grown(lake, 3)
    trusted = load_checkpoint(lake.store, 3)  # after 2026-12-02
    lake.add_file("2026-12-03", "lineage", 1, name="late")
    store = RecordingBucket(lake.store.objects)
    report = Verifier(store, KEY, jobs=1, since=trusted, now=datetime(2026, 12, 3, 12, tzinfo=UTC)).run()
    assert report.ok, report.text()
    assert report.mode == "since" and report.since["seq"] == 3
    assert (report.entries_checked, report.files_checked, report.checkpoints_checked) == (4, 4, 1)
    # Of the history before the trusted checkpoint, only its own day's log entries were read
    # (its files are listed in the scanned partitions: each must be logged before it)
    same_day = {records.log_key(i) for i in range(7, 10)}
    assert {k for k in store.reads if k.startswith(records.LOG)} - same_day == {
        records.log_key(i) for i in range(10, 14)}
    assert not {k for k in store.reads if k.startswith("events/") and "2026-12-03" not in k}
    assert not {k for k in store.reads if k.startswith(records.CHECKPOINTS)} - {
        records.checkpoint_key(3), records.checkpoint_key(4)}
    assert not [p for p in store.listed if p.startswith(("events/event_date=2026-11", "events/event_date=2026-12-01"))]


def test_since_names_what_changed_after_the_trusted_checkpoint(lake):
    grown(lake, 2)
    trusted = load_checkpoint(lake.store, 3)
    grown(lake, 1, first=2)  # 2026-12-03: three files, checkpoint 4
    new = lake.keys[-1]
    lake.store.put(new, parquet_file([dict(e, action="edited") for e in lake.events[new]]))
    stray = "events/event_date=2026-12-02/event_type=prediction/stray.parquet"
    lake.store.put(stray, lake.store.get(new))
    report = Verifier(lake.store, KEY, jobs=1, since=trusted, now=datetime(2026, 12, 3, 12, tzinfo=UTC)).run()
    assert {"modified_file", "foreign_file"} <= report.kinds(), report.text()
    assert stray in {p.where for p in report.problems if p.kind == "foreign_file"}
    # Files of the trusted checkpoint's own day, logged before it, are not foreign
    assert not {p.where for p in report.problems if p.kind == "foreign_file"} - {stray}


def test_since_a_checkpoint_the_lake_no_longer_gives(lake):
    grown(lake, 1)
    trusted = load_checkpoint(lake.store, 2)
    # A truncated log: the newest entry removed
    del lake.store.objects[records.log_key(lake.sink.log.size() - 1)]
    report = Verifier(lake.store, KEY, jobs=1, since=load_checkpoint(lake.store, 1)).run()
    assert "log_truncated" in report.kinds(), report.text()
    # A trusted checkpoint the lake no longer holds, or one forged with another key
    del lake.store.objects[records.checkpoint_key(2)]
    assert "checkpoint_rollback" in Verifier(lake.store, KEY, jobs=1, since=trusted).run().kinds()
    forged = SignedCheckpoint(trusted.body, LocalSigner.generate().sign(trusted.message))
    assert Verifier(lake.store, KEY, jobs=1, since=forged).run().kinds() == {"checkpoint_bad_signature"}


def test_since_without_tiles_reads_the_trusted_tree_from_the_log(lake):
    grown(lake, 1)
    trusted = load_checkpoint(lake.store, 1)
    for key in [k for k in lake.store.objects if k.startswith(records.TILES)]:
        del lake.store.objects[key]
    report = Verifier(lake.store, KEY, jobs=1, since=trusted).run()
    assert report.ok and any("read from the log instead" in n for n in report.notes), report.text()
    # And a rewritten entry of the trusted tree then shows
    lake.store.put(records.log_key(0), lake.store.get(records.log_key(1)))
    assert "checkpoint_root_mismatch" in Verifier(lake.store, KEY, jobs=1, since=trusted).run().kinds()


def test_cli_since_and_save_checkpoint_make_a_daily_chain(lake, tmp_path, capsys):
    pem = tmp_path / "key.pem"
    pem.write_bytes(SIGNER.public_key_pem())
    saved = tmp_path / "trusted.json"
    args = ["--bucket", "audit", "--public-key", str(pem), "--log-id", "mlaudit/audit"]
    assert main([*args, "--save-checkpoint", str(saved)], store=lake.store) == 0
    assert SignedCheckpoint.decode(saved.read_bytes()).body["seq"] == 1
    grown(lake, 1)
    assert main([*args, "--since", str(saved), "--save-checkpoint", str(saved)], store=lake.store) == 0
    assert "since checkpoint 1" in capsys.readouterr().out
    assert SignedCheckpoint.decode(saved.read_bytes()).body["seq"] == 2
    # A quiet day: no new file, but a fresh checkpoint is something verified
    lake.clock_now = datetime(2026, 12, 2, 11, tzinfo=UTC)
    lake.checkpoint()
    assert main([*args, "--since", str(saved)], store=lake.store) == 0
    with pytest.raises(SystemExit):
        main([*args, "--since", str(tmp_path / "missing.json")], store=lake.store)


def test_whole_lake_reads_a_sample_of_checkpoints_unless_asked_for_all(lake):
    grown(lake, 20, per_day=1)
    sampled = verify(lake.store)
    assert sampled.ok and sampled.checkpoints_checked < 12
    every = verify(lake.store, all_checkpoints=True)
    assert every.ok and every.checkpoints_checked == 22
    # A checkpoint outside the sample, replaced by a forged one, is read with --all-checkpoints
    key = records.checkpoint_key(9)
    forged = SignedCheckpoint.decode(lake.store.get(key))
    lake.store.put(key, SignedCheckpoint(forged.body, LocalSigner.generate().sign(forged.message)).encode())
    assert "checkpoint_bad_signature" in verify(lake.store, all_checkpoints=True).kinds()


def test_the_report_verifies_since_the_last_witnessed_checkpoint_before_its_window():
    from mlaudit.integrity.services.witness import Witness

    from cli.report import checkpoint_before

    witness = Witness(MemoryBucket(), "mlaudit/audit")
    lake = Lake(MemoryBucket(), witness=witness)  # checkpoints 0..2 at T0 + 1, 2, 3 h
    times = [witness.load(seq).body["time"] for seq in range(3)]
    assert checkpoint_before(witness, times[2]).body["seq"] == 1
    assert checkpoint_before(witness, "2099-01-01T00:00:00.000Z").body["seq"] == 2
    assert checkpoint_before(witness, "2000-01-01T00:00:00.000Z").body["seq"] == 0  # the chain's start
    assert checkpoint_before(Witness(MemoryBucket(), "mlaudit/none"), times[0]) is None
    report = Verifier(lake.store, KEY, jobs=1, log_id="mlaudit/audit", witness=witness,
                      since=checkpoint_before(witness, times[1])).run()
    assert report.ok and report.since["seq"] == 0 and report.files_checked == 4, report.text()
