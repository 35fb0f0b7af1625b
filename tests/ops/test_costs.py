"""The cost table: priced from the counted calls of `ops/usage.json`, current in docs/deploy.md,
every counted call scaled by a unit, and a change in the calls a function makes changes it."""

from __future__ import annotations

import copy

import pytest
from mlaudit.adapters.idempotency import DynamoIdempotencyStore
from mlaudit.settings import Settings

from ops import costs, workload


def test_the_table_in_deploy_md_is_current() -> None:
    assert costs.main(["--check"]) == 0, "python -m ops.costs --write"


def test_every_counted_call_is_scaled_by_a_unit_the_workload_counted() -> None:
    report = costs.load()
    found = costs.rows(report)
    measured = costs.measured_units(report, found)
    for row in found:
        unit = costs.unit_of(row)
        assert unit in costs.UNITS or unit in costs.MODELED, row
        if unit in costs.UNITS:
            assert measured[unit] > 0, (unit, row)


def test_the_counted_run_writes_a_tenth_of_a_write_unit_per_stored_event_or_less() -> None:
    # The 10,000-event run on one lane (the SDK's headers): the claims, the requests' records
    # and the writer's ledger; a subject's key is written once per new subject, not per event.
    report = costs.load()
    assert report["notes"]["events"] == workload.EVENTS == 10_000
    per_event = costs.write_units_per_event(report)
    assert set(per_event) == {"ingest", "writer"}
    assert sum(per_event.values()) <= 0.1, per_event
    assert costs.subject_key_writes(report) <= 1.01 * report["notes"]["subjects"]
    # (the per-event claim it replaced was ~1 write unit per event by itself)
    assert not [c for c in report["calls"] if c["function"] == "ingest" and c["action"] == "PutItem"
                and c["resource"] == "idempotency_table" and c["calls"] > report["notes"]["requests"]]


def test_a_call_no_unit_names_stops_the_pricing() -> None:
    report = copy.deepcopy(costs.load())
    report["calls"].append({**report["calls"][0], "function": "compactor"})
    with pytest.raises(ValueError, match="no unit for compactor"):
        costs.table(report=report)


def test_one_more_write_per_request_shows_in_dynamodb_and_nowhere_else() -> None:
    # Given the counted report, and the same with ingest writing each request's record twice
    report = costs.load()
    twice = copy.deepcopy(report)
    (row,) = [c for c in twice["calls"] if c["function"] == "ingest" and c["action"] == "UpdateItem"]
    for name in ("calls", "attempts", "billed_requests", "write_units", "request_bytes", "stored_bytes"):
        row[name] *= 2
    # Then the DynamoDB row grows by those write units' price, and what does not depend on
    # them stays
    events = costs.VOLUMES[-1]
    before, after = costs.monthly(events, Settings(), report), costs.monthly(events, Settings(), twice)
    extra = row["write_units"] / 2 / report["notes"]["requests"] * (events / report["notes"]["events_per_request"])
    assert after["DynamoDB"] - before["DynamoDB"] == pytest.approx(
        extra * costs.PRICES["dynamodb_per_million_wru"] / 1e6, rel=0.2)
    for name in ("API Gateway", "SQS", "Athena (named queries, monitors)", "Cognito (machine clients, tokens)"):
        assert after[name] == before[name], name


def test_a_function_that_makes_more_calls_changes_the_table(monkeypatch) -> None:
    """End to end: the workload twice on the local stack (small), the second time with ingest
    writing each request's record twice; the counted calls and the priced table follow."""
    template = costs.load()["notes"]["template"]
    baseline = workload.run(200, template=False)
    original = DynamoIdempotencyStore.complete

    def complete(self, *args, **kwargs):
        original(self, *args, **kwargs)
        original(self, *args, **kwargs)  # the change: one more write per request

    changed = workload.run(200, template=False,
                           before=lambda stack: monkeypatch.setattr(DynamoIdempotencyStore, "complete", complete))
    for report in (baseline, changed):
        report["notes"]["template"] = template

    def updates(report):
        return sum(c["calls"] for c in report["calls"] if c["function"] == "ingest" and c["action"] == "UpdateItem")

    assert updates(changed) == updates(baseline) + baseline["notes"]["requests"]
    assert costs.table(report=changed) != costs.table(report=baseline)
    events = costs.VOLUMES[-1]
    grew = (costs.monthly(events, Settings(), changed)["DynamoDB"]
            - costs.monthly(events, Settings(), baseline)["DynamoDB"])
    assert grew > 0


def test_the_recovery_sweep_is_priced_per_run_and_compaction_per_file_it_reads_and_writes() -> None:
    # The sweep reads a day of its list every 5 minutes, however many messages the queue had
    report = costs.load()
    found = costs.rows(report)
    sweep = [r for r in found if r.function == "writer" and r.resource == "ledger_table:files#"]
    assert {costs.unit_of(r) for r in sweep} == {"recovery_run", "writer_run"}
    assert report["notes"]["recovery_runs"] == workload.RECOVERY_RUNS
    # Compaction ran on the workload's day and is in the table: its sources read once each
    assert report["notes"]["compaction"]["sources"] == report["objects"]["audit_bucket:events/"]["count"]
    assert {costs.unit_of(r) for r in found if r.function == "compaction"} >= {"file", "compacted_file"}


def test_athena_reads_a_compacted_day_in_fewer_requests_than_its_source_files() -> None:
    # A month's closed days from compacted files: fewer GETs than the same days' writer files
    month = costs.Month(costs.VOLUMES[-1], costs.load(), Settings())
    assert month.compacted_per_day < month.files / 30 / 100
    assert costs.source_files_extra(costs.VOLUMES[-1]) > 0
