"""Compaction: a closed day's files merged per event type through the integrity log, read
instead of them once the day is marked, and proven by the verifier to hold exactly the
events of the files they replace (docs/compaction.md)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from mlaudit import compaction
from mlaudit.adapters.memory import MemoryBucket
from mlaudit.compaction import Compactor, compacted_days, read_root
from mlaudit.integrity.primitives import records
from mlaudit.integrity.services import seals
from mlaudit.integrity.services.sink import IntegritySink
from mlaudit.layout import COMPACTED_PREFIX, EVENTS_PREFIX
from mlaudit.parquet import read_parquet_bytes

from tests.unit.moto_pipeline import NOW
from tests.unit.test_integrity_seals import EVENT, LOG_ID, Sealed

DAY = NOW.date().isoformat()
LATER = NOW + timedelta(days=2)  # the day is closed


def _post(sealed: Sealed, prefix: str, count: int, event_type: str = "prediction") -> None:
    """One request, written as its own file (one writer batch)."""
    events = [{**EVENT, "event_id": f"{prefix}{i}"} for i in range(count)]
    if event_type != "prediction":
        events = [{"event_id": f"{prefix}{i}", "event_type": event_type, "occurred_at": "2026-11-26T06:59:00Z",
                   "model_id": "m", "model_version": "1"} for i in range(count)]
    sealed.pipeline.post(json.dumps({"events": events}))
    written = sealed.pipeline.writer.process(sealed.pipeline.to_messages(sealed.pipeline.receive()))
    assert written.failed_message_ids == []


@pytest.fixture
def day(aws):
    """A sealed, signed lake: one day, 4 prediction files and 2 model_deployed files."""
    sealed = Sealed()
    sealed.sign()  # checkpoint 0 first, as deployed
    for n in range(4):
        _post(sealed, f"p{n}-", 3 + n)
    for n in range(2):
        _post(sealed, f"d{n}-", 2, "model_deployed")
    sealed.sign()
    return sealed


def compactor(sealed: Sealed, **options) -> Compactor:
    return Compactor(sealed.store, sealed.sink, clock=lambda: LATER, **options)


def _files(store, root: str) -> list[str]:
    return [k for k in store.list(root) if k.endswith(".parquet")]


def test_a_closed_day_becomes_one_file_per_event_type_that_verifies(day):
    before = {k: read_parquet_bytes(day.store.get(k)).num_rows for k in _files(day.store, EVENTS_PREFIX)}
    assert len(before) == 6
    results = compactor(day).run()
    (result,) = results
    assert result.marked and result.sources == 6 and len(result.files) == 2
    compacted = _files(day.store, COMPACTED_PREFIX)
    assert len(compacted) == 2 and sorted(result.files) == compacted
    # The rows are the sources' rows, once each; the sources stay (Object Lock)
    assert sum(read_parquet_bytes(day.store.get(k)).num_rows for k in compacted) == sum(before.values()) == 22
    assert len(_files(day.store, EVENTS_PREFIX)) == 6
    # Readers switch the day over: its marker exists
    assert compacted_days(day.store) == {DAY} and read_root(DAY, {DAY}) == COMPACTED_PREFIX
    # Each compacted file is logged, names its record, and carries its sources' seals
    for key in compacted:
        index = records.decode(day.store.get(records.log_by_file_key(key)), "pointer")["index"]
        entry = records.decode(day.store.get(records.log_key(index)), "entry")
        record = records.decode(day.store.get(entry["replaces"]["record"]), "record")
        assert entry["replaces"]["count"] == len(record["sources"])
        assert json.loads(day.store.get(seals.seals_key(key)))["object_key"] == key
    day.sign()
    report = day.verify()
    assert report.ok, report.text()
    assert report.files_checked == 8


def test_compaction_is_idempotent_and_a_day_is_compacted_once(day):
    compactor(day).run()
    size = len(list(day.store.list(records.LOG)))
    again = compactor(day).run()
    assert [r.files for r in again] == [{}] and not again[0].marked
    assert len(list(day.store.list(records.LOG))) == size
    assert len(_files(day.store, COMPACTED_PREFIX)) == 2
    # An open day is left alone
    assert Compactor(day.store, day.sink, clock=lambda: NOW).run() == []


def test_a_crash_half_way_leaves_the_day_read_from_its_sources_and_the_next_run_finishes(day):
    broken = compactor(day)
    puts = []
    real_put = day.store.put

    def put_once(key, body):
        if key.startswith(COMPACTED_PREFIX) and puts:
            raise ConnectionError("the run is killed here")
        puts.append(key)
        real_put(key, body)

    day.store.put = put_once
    with pytest.raises(ConnectionError):
        broken.run()
    del day.store.put
    # One type's file is stored and logged, the other's record claimed: but no marker, so
    # readers still read the day's events/ files, each event once
    assert len(_files(day.store, COMPACTED_PREFIX)) == 1
    assert compacted_days(day.store) == set() and read_root(DAY, set()) == EVENTS_PREFIX
    (result,) = compactor(day).run()
    assert result.marked and len(result.files) == 1  # the claimed one, rebuilt from its record
    assert len(_files(day.store, COMPACTED_PREFIX)) == 2
    day.sign()
    assert day.verify().ok


def test_files_that_come_after_their_day_was_compacted_make_one_more_generation(day):
    compactor(day).run()
    _post(day, "late-", 4)  # a redrive: received on the day, written after it was compacted
    (result,) = compactor(day).run()
    assert len(result.files) == 1 and result.sources == 1 and not result.marked
    assert len([k for k in _files(day.store, COMPACTED_PREFIX) if "event_type=prediction" in k]) == 2
    day.sign()
    assert day.verify().ok


def test_a_partition_larger_than_a_file_is_split_in_generations(day):
    (result,) = compactor(day, max_rows=8).run()
    sizes = sorted(result.files.values())
    assert sum(sizes) == 22 and max(sizes) <= 8 + 6  # a source is never split
    day.sign()
    assert day.verify().ok


def _attacked(day, change) -> set[str]:
    bad = compactor(day)
    bad.merge = lambda tables, pa: change(pa.concat_tables(tables))
    bad.run()
    day.sign()
    report = day.verify()
    assert not report.ok
    return report.kinds()


def test_a_compaction_that_drops_a_row_is_caught(day):
    kinds = _attacked(day, lambda t: t.slice(0, t.num_rows - 1))
    assert "compaction_mismatch" in kinds


def test_a_compaction_that_duplicates_a_row_is_caught(day):
    import pyarrow as pa
    kinds = _attacked(day, lambda t: pa.concat_tables([t, t.slice(0, 1)]))
    assert "compaction_mismatch" in kinds


def test_a_compaction_that_adds_a_row_is_caught(day):
    import pyarrow as pa

    def add(table):
        i = table.schema.get_field_index("event_id")
        extra = table.slice(0, 1).set_column(i, table.schema.field(i), pa.array(["invented"], pa.string()))
        return pa.concat_tables([table, extra])
    kinds = _attacked(day, add)
    assert "compaction_mismatch" in kinds


def test_a_record_rewritten_to_fit_a_dropped_row_is_caught_against_the_log(day):
    """The insider also rewrites the record to match (one row fewer, the root of the rest):
    the source's own log entry disagrees."""
    from mlaudit.integrity.primitives import merkle

    bad = compactor(day)
    sources = bad._sources

    def shortened(prefix, covered):
        found, waiting = sources(prefix, covered)
        if found and "prediction" in prefix:
            table = read_parquet_bytes(day.store.get(found[0]["object_key"]))
            leaves = [bytes.fromhex(h) for h in table.column("leaf_hash").to_pylist()][1:]
            found[0] = {**found[0], "record_count": len(leaves), "merkle_root": merkle.root(leaves).hex()}
        return found, waiting

    bad._sources = shortened
    bad.check_source = lambda source, leaves: None
    bad.merge = lambda tables, pa: pa.concat_tables(  # the prediction partition's 4 files only
        [tables[0].slice(1), *tables[1:]] if len(tables) == 4 else tables)
    bad.run()
    day.sign()
    report = day.verify()
    assert "compaction_source_mismatch" in report.kinds(), report.text()
    assert "compaction_mismatch" not in report.kinds()  # the file does match the rewritten record


def test_a_file_replaced_twice_is_caught(day):
    compactor(day).run()
    # A second compaction over the same sources, under another generation
    (first,) = [k for k in day.store.list(records.COMPACTIONS) if "prediction" in k]
    record = records.decode(day.store.get(first), "record")
    key = records.compaction_key(DAY, "prediction", 7)
    body = records.encode({**record, "generation": 7})
    assert day.store.create(key, body)
    result = compaction.DayResult(DAY)
    compactor(day)._complete(key, body, {**record, "generation": 7}, result)
    day.sign()
    report = day.verify()
    assert "compaction_source_twice" in report.kinds()


def test_the_sink_refuses_nothing_but_an_events_or_compacted_key():
    sink = IntegritySink(MemoryBucket(), log_id=LOG_ID)
    with pytest.raises(ValueError):
        sink.file_written("other/x.parquet", b"x", [b"\0" * 32])


class _View:
    def __init__(self) -> None:
        self.cutoffs: list[str] = []

    def advance(self, cutoff: str) -> bool:
        self.cutoffs.append(cutoff)
        return True


def test_each_run_points_athenas_view_at_the_days_compacted(day):
    view = _View()
    assert compactor(day, view=view).advance_view() == "1970-01-01"  # nothing compacted yet
    compactor(day, view=view).run()
    assert compactor(day, view=view).advance_view() == DAY
    assert view.cutoffs == ["1970-01-01", DAY]
    assert compactor(day).advance_view() is None  # no view to move (a lake without Athena)
