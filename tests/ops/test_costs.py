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
