"""Bounds on free-form JSON fit real OpenLineage facets, and every violation names its
bound and the path where it was broken."""

from __future__ import annotations

import json
import math

import pytest
from mlaudit.errors import DomainError
from mlaudit.events import (
    JSON_MAX_BYTES,
    JSON_MAX_DEPTH,
    JSON_MAX_ITEMS,
    JSON_MAX_KEY_LENGTH,
    JsonBoundsError,
    _bounded_json,
    canonical_json,
    json_path,
)
from mlaudit.ingest.request import IngestLimits, parse_events

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/spark"
FACETS = "https://openlineage.io/spec/facets/1-0-1/"


def wide_run_event(columns: int = 200) -> dict:
    """A Spark-like COMPLETE event writing a `columns`-column table: schema facet, column
    lineage from two inputs per column (with transformations), sql, data-quality metrics."""
    names = [f"customer_attribute_{i:03d}" for i in range(columns)]
    schema = {
        "_producer": PRODUCER, "_schemaURL": FACETS + "SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
        "fields": [{"name": n, "type": "decimal(18,4)" if i % 3 else "varchar",
                    "description": f"attribute {i} of the customer"} for i, n in enumerate(names)],
    }
    lineage = {
        "_producer": PRODUCER,
        "_schemaURL": FACETS + "ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
        "fields": {
            n: {"inputFields": [
                {"namespace": "s3://raw-zone", "name": source, "field": n,
                 "transformations": [{"type": "DIRECT", "subtype": "TRANSFORMATION",
                                      "description": "", "masking": False}]}
                for source in ("crm/customers", "billing/accounts")
            ]}
            for n in names
        },
        "dataset": [{"namespace": "s3://raw-zone", "name": "crm/customers", "field": "customer_id",
                     "transformations": [{"type": "INDIRECT", "subtype": "JOIN"}]}],
    }
    metrics = {
        "_producer": PRODUCER,
        "_schemaURL": FACETS + "DataQualityMetricsInputDatasetFacet.json",
        "rowCount": 1_204_332, "bytes": 93_000_112,
        "columnMetrics": {n: {"nullCount": i, "distinctCount": 1000 + i} for i, n in enumerate(names[:50])},
    }
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-29T23:01:02.345Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "0193f0b6-0c5e-7d8e-9a4b-1f2e3d4c5b6a", "facets": {}},
        "job": {"namespace": "spark-prod", "name": "customer_features.build",
                "facets": {"sql": {"_producer": PRODUCER, "_schemaURL": FACETS + "SQLJobFacet.json",
                                   "query": "INSERT INTO features SELECT " + ", ".join(names[:40])}}},
        "inputs": [{"namespace": "s3://raw-zone", "name": "crm/customers"},
                   {"namespace": "s3://raw-zone", "name": "billing/accounts"}],
        "outputs": [{"namespace": "s3://features", "name": "customer_features",
                     "facets": {"schema": schema, "columnLineage": lineage},
                     "outputFacets": {"dataQualityMetrics": metrics}}],
    }


def test_a_200_column_schema_with_column_lineage_fits_the_bounds() -> None:
    event = wide_run_event(200)
    kept = _bounded_json(event)
    assert kept == event
    assert kept.text == canonical_json(event)
    # Realistic: tens of kilobytes, 11+ levels deep, 200 keys wide; the old bounds
    # (16 KB, 5 levels, 256 items) refused it.
    assert 40_000 < len(kept.text) <= JSON_MAX_BYTES


def _nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    ("value", "bound", "path"),
    [
        (_nested(JSON_MAX_DEPTH), None, None),
        (_nested(JSON_MAX_DEPTH + 1), "depth", "$" + ".k" * JSON_MAX_DEPTH),
        ({"run": {"facets": {"x": list(range(JSON_MAX_ITEMS + 1))}}}, "width", "$.run.facets.x"),
        ({"a": [{}, {f"c{i}": i for i in range(JSON_MAX_ITEMS + 1)}]}, "width", "$.a[1]"),
        ({"fields": {"x" * (JSON_MAX_KEY_LENGTH + 1): 1}}, "key_length",
         '$.fields["' + "x" * 61 + '..."]'),
        ({"a": {"b": [1.0, 2.0, {"c d": math.nan}]}}, "finite", '$.a.b[2]["c d"]'),
        ({"a": [math.inf]}, "finite", "$.a[0]"),
        ({"small": 1, "blob": "x" * JSON_MAX_BYTES}, "size", "$"),
    ],
)
def test_each_violation_names_its_bound_and_path(value: dict, bound: str | None, path: str | None) -> None:
    if bound is None:
        _bounded_json(value)
        return
    with pytest.raises(JsonBoundsError) as caught:
        _bounded_json(value)
    assert caught.value.bound == bound
    assert json_path(caught.value.path) == path
    assert str(caught.value).startswith(f"{bound} bound broken at {path}: ")


def test_depth_is_reported_where_the_limit_is_crossed() -> None:
    value = {"ok": 1, "deep": _nested(JSON_MAX_DEPTH)}  # 17 levels below the top
    with pytest.raises(JsonBoundsError) as caught:
        _bounded_json(value)
    assert caught.value.bound == "depth"
    assert caught.value.path[0] == "deep" and len(caught.value.path) == JSON_MAX_DEPTH


def test_the_size_message_names_the_largest_member() -> None:
    with pytest.raises(JsonBoundsError, match=r"largest member \$\.blob: "):
        _bounded_json({"small": 1, "blob": "x" * JSON_MAX_BYTES})


def test_a_request_reports_the_bound_and_path_not_nan() -> None:
    # Before: every bound violation read "numbers must be finite (no NaN or Infinity)".
    body = {"event_type": "lineage", "occurred_at": "2026-11-26T06:00:00Z",
            "details": {"outputs": [{"facets": {"k" * 300: 1}}]}}
    with pytest.raises(DomainError) as caught:
        parse_events(json.dumps(body).encode(), IngestLimits())
    problem = caught.value.errors[0]
    assert (problem["path"], problem["rule"]) == ("events[0].details", "bounded_json")
    assert problem["message"].startswith('key_length bound broken at $.outputs[0].facets.<name sha256:')
    assert "finite" not in problem["message"]
