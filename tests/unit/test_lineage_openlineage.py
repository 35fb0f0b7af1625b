"""OpenLineage events, as the official Python client sends them, validated and mapped to the
contract's lineage event; bad lineage input refused naming the path and rule."""

from __future__ import annotations

import copy
import gzip
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlaudit.errors import DomainError
from mlaudit.events import JSON_MAX_BYTES, EventType
from mlaudit.http import status_of
from mlaudit.ingest.request import IngestLimits, decode_body, parse_events
from mlaudit.lineage import (
    ACCEPTED_STATUS,
    dataset_ref,
    lineage_request_body,
    parse_openlineage,
    to_contract_event,
    validate,
)
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_metrics_input_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    sql_job,
)
from openlineage.client.transport.http import HttpConfig, HttpTransport
from requests import Response
from requests.adapters import BaseAdapter

API = "https://audit.example.test/prod/"
TOKEN = "machine-token"


class Capture(BaseAdapter):
    """A requests adapter that keeps what HttpTransport sends and answers like Marquez."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Any] = []

    def send(self, request: Any, **kwargs: Any) -> Response:
        self.requests.append(request)
        response = Response()
        response.status_code = ACCEPTED_STATUS
        response.url = request.url
        response._content = b""
        return response

    def close(self) -> None:
        pass


def emit(events: list[Any], compression: str | None = None) -> list[Any]:
    """Send `events` with the client's HttpTransport configured as its docs say."""
    capture = Capture()
    config = HttpConfig.from_dict({
        "type": "http", "url": API, "endpoint": "v1/lineage",
        "auth": {"type": "api_key", "apiKey": TOKEN}, **({"compression": compression} if compression else {}),
    })
    config.adapter = capture
    transport = HttpTransport(config)
    for event in events:
        assert transport.emit(event).status_code == ACCEPTED_STATUS
    return capture.requests


def now() -> str:
    return datetime.now(UTC).isoformat()


RUN_ID = str(uuid.uuid4())
PARENT_ID = str(uuid.uuid4())


def job_run_events() -> list[RunEvent]:
    """A training-data job: START, then COMPLETE with inputs, outputs and facets."""
    job = Job(namespace="airflow-prod", name="churn_features.build",
              facets={"sql": sql_job.SQLJobFacet(query="INSERT INTO features SELECT a, b FROM raw.customers")})
    run = Run(runId=RUN_ID, facets={
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=PARENT_ID), job=parent_run.Job(namespace="airflow-prod", name="churn_dag")),
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(version="2.10.3", name="Airflow"),
    })
    inputs = [InputDataset(
        namespace="postgres://crm:5432", name="crm.public.customers",
        inputFacets={"dataQualityMetrics": data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
            rowCount=1200, columnMetrics={"a": data_quality_metrics_input_dataset.ColumnMetrics(nullCount=3)})},
    )]
    outputs = [OutputDataset(
        namespace="s3://features", name="churn/customer_features",
        facets={
            "schema": schema_dataset.SchemaDatasetFacet(fields=[
                schema_dataset.SchemaDatasetFacetFields(name="a", type="BIGINT"),
                schema_dataset.SchemaDatasetFacetFields(name="b", type="VARCHAR"),
            ]),
            "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields={
                "a": column_lineage_dataset.Fields(inputFields=[column_lineage_dataset.InputField(
                    namespace="postgres://crm:5432", name="crm.public.customers", field="a",
                    transformations=[column_lineage_dataset.Transformation(type="DIRECT", subtype="IDENTITY")])]),
            }),
        },
    )]
    return [
        RunEvent(eventType=RunState.START, eventTime=now(), run=run, job=job, inputs=inputs),
        RunEvent(eventType=RunState.COMPLETE, eventTime=now(), run=run, job=job, inputs=inputs, outputs=outputs),
    ]


def contract(body: bytes) -> Any:
    """The mapped body, parsed by the contract exactly as the ingest service will."""
    (event,) = parse_events(lineage_request_body(body), IngestLimits())
    return event


def test_the_official_client_sends_what_the_mapper_accepts_and_maps() -> None:
    sent = emit(job_run_events())
    assert [r.url for r in sent] == [API + "v1/lineage"] * 2
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in sent)
    assert all(r.headers["Content-Type"] == "application/json" for r in sent)
    start, complete = (contract(r.body.encode() if isinstance(r.body, str) else r.body) for r in sent)
    for event, action in ((start, "START"), (complete, "COMPLETE")):
        assert event.event_type is EventType.LINEAGE
        assert event.action == action
        assert event.run_id == RUN_ID and event.parent_run_id == PARENT_ID
        assert event.resource == "airflow-prod/churn_features.build"
        assert event.inputs == ["postgres://crm:5432/crm.public.customers"]
        assert event.event_id is None  # the ingest service derives it from sender and content
    assert start.outputs is None
    assert complete.outputs == ["s3://features/churn/customer_features"]
    # Facets kept whole in details: the event as the client sent it.
    body = json.loads(sent[1].body)
    assert complete.details == body
    facets = complete.details["outputs"][0]["facets"]
    assert facets["columnLineage"]["fields"]["a"]["inputFields"][0]["field"] == "a"
    assert facets["schema"]["_schemaURL"].startswith("https://openlineage.io/spec/facets/")
    assert complete.details["producer"] == body["producer"]
    assert complete.details["schemaURL"] == "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
    assert complete.occurred_at == datetime.fromisoformat(body["eventTime"])


def test_dataset_and_job_events_are_mapped() -> None:
    dataset_event = DatasetEvent(eventTime=now(), dataset=StaticDataset(
        namespace="s3://features", name="churn/customer_features",
        facets={"schema": schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name="a", type="BIGINT")])}))
    job_event = JobEvent(
        eventTime=now(), job=Job(namespace="dbt", name="analytics.churn_model"),
        inputs=[InputDataset(namespace="snowflake://acme", name="raw.customers")],
        outputs=[OutputDataset(namespace="snowflake://acme", name="analytics.churn")])
    dataset_body, job_body = (r.body for r in emit([dataset_event, job_event]))
    dataset = contract(dataset_body.encode())
    assert (dataset.action, dataset.resource, dataset.run_id, dataset.inputs, dataset.outputs) == (
        "DATASET", "s3://features/churn/customer_features", None, None, None)
    (column,) = dataset.details["dataset"]["facets"]["schema"]["fields"]
    assert (column["name"], column["type"]) == ("a", "BIGINT")
    job = contract(job_body.encode())
    assert (job.action, job.resource, job.run_id) == ("JOB", "dbt/analytics.churn_model", None)
    assert (job.inputs, job.outputs) == (["snowflake://acme/raw.customers"], ["snowflake://acme/analytics.churn"])


def test_a_gzipped_event_is_read_as_the_client_compressed_it() -> None:
    (request,) = emit(job_run_events()[1:], compression="gzip")
    assert request.headers["Content-Encoding"] == "gzip"
    body = decode_body(request.body, request.headers["Content-Encoding"], 1_000_000)
    assert contract(body).action == "COMPLETE"
    with pytest.raises(DomainError) as caught:
        decode_body(gzip.compress(b"{" + b" " * 2_000_000 + b"}"), "gzip", 1_000_000)
    assert status_of(caught.value) == 413
    with pytest.raises(DomainError) as caught:
        decode_body(b"\x1f\x8bnot gzip", "gzip", 1_000_000)
    assert (status_of(caught.value), caught.value.code) == (400, "malformed_body")
    # What API Gateway decoded already (it passes Content-Encoding on) is read as it is.
    assert decode_body(b'{"a": 1}', "gzip", 1_000_000) == b'{"a": 1}'
    with pytest.raises(DomainError) as caught:
        decode_body(b"{}", "br", 1_000_000)
    assert status_of(caught.value) == 415


def test_a_retried_event_maps_to_the_same_contract_body() -> None:
    (request,) = emit(job_run_events()[1:])
    body = request.body.encode()
    assert lineage_request_body(body) == lineage_request_body(body)  # same id derived at ingest


# ---------------------------------------------------------------- refusals


_GOOD: list[str] = []


def good() -> dict[str, Any]:
    if not _GOOD:
        _GOOD.append(emit(job_run_events()[1:])[0].body)
    return json.loads(_GOOD[0])


def refusal(body: Any) -> DomainError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(DomainError) as caught:
        lineage_request_body(raw)
    return caught.value


def changed(path: list[Any], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    event = good()
    target = event
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("body", "path", "rule"),
    [
        # not OpenLineage: the contract's own event, sent to the lineage route
        ({"event_type": "lineage", "occurred_at": "2026-11-30T00:00:00Z"}, "$", "event_kind"),
        (["a", "list"], "$", "type"),
        (changed(["eventType"], "FINISHED"), "$.eventType", "unknown_value"),
        (changed(["run", "runId"], delete=True), "$.run.runId", "required"),
        (changed(["run", "runId"], "run-42"), "$.run.runId", "uuid"),
        (changed(["job"], delete=True), "$.job", "required"),
        (changed(["job", "name"], delete=True), "$.job.name", "required"),
        (changed(["job", "namespace"], 7), "$.job.namespace", "type"),
        (changed(["eventTime"], delete=True), "$.eventTime", "required"),
        (changed(["eventTime"], "2026-11-30T01:02:03"), "$.eventTime", "rfc3339"),
        (changed(["eventTime"], "2026-02-30T01:02:03Z"), "$.eventTime", "rfc3339"),
        (changed(["eventTime"], "9999-12-31T23:59:59-01:00"), "$.eventTime", "rfc3339"),
        (changed(["producer"], "not a uri"), "$.producer", "uri"),
        (changed(["schemaURL"], "https://openlineage.io/spec/3-0-0/OpenLineage.json"), "$.schemaURL",
         "spec_version"),
        (changed(["inputs"], {"namespace": "a", "name": "b"}), "$.inputs", "type"),
        (changed(["inputs", 0, "name"], ""), "$.inputs[0].name", "min_length"),
        (changed(["inputs", 0, "name"], "x" * 600), "$.inputs[0].name", "max_length"),
        (changed(["outputs", 0, "facets", "schema", "_producer"], delete=True),
         "$.outputs[0].facets.schema._producer", "required"),
        (changed(["outputs", 0, "facets", "schema"], "a string"), "$.outputs[0].facets.schema", "type"),
        (changed(["run", "facets", "parent", "run", "runId"], "nope"), "$.run.facets.parent.run.runId", "uuid"),
        (changed(["outputs", 0, "facets", "schema", "fields"],
                 [{"name": f"c{i}", "type": "x" * 200} for i in range(800)]), "$", "size"),
        (changed(["outputs", 0, "facets", "schema", "fields"], list(range(2000))),
         "$.outputs[0].facets.schema.fields", "width"),
    ],
)
def test_bad_lineage_is_refused_naming_path_and_rule(body: Any, path: str, rule: str) -> None:
    error = refusal(body)
    assert status_of(error) == 422 and error.code == "validation_failed"
    assert any((p["path"], p["rule"]) == (path, rule) for p in error.errors), error.errors
    assert all(p["message"] for p in error.errors)


def test_an_oversized_facet_names_its_size_and_largest_member() -> None:
    event = good()
    event["outputs"][0]["facets"]["blob"] = {"_producer": "https://x.test", "_schemaURL": "https://x.test/s",
                                             "data": "x" * JSON_MAX_BYTES}
    (problem,) = refusal(event).errors
    assert problem["rule"] == "size" and problem["path"] == "$"
    assert "largest member $.outputs" in problem["message"]


def test_malformed_json_and_nan_are_400() -> None:
    assert status_of(refusal(b'{"eventTime": ')) == 400
    raw = json.dumps(good()).replace('"2.10.3"', "NaN").encode()
    error = refusal(raw)
    assert (status_of(error), error.code) == (400, "malformed_json") and "finite" in error.message


def test_non_finite_numbers_in_a_parsed_event_name_their_path() -> None:
    event = changed(["run", "facets", "processing_engine", "x"], float("inf"))
    with pytest.raises(DomainError) as caught:
        to_contract_event(event)
    assert [(p["path"], p["rule"]) for p in caught.value.errors] == [("$.run.facets.processing_engine.x", "finite")]


def test_what_the_contract_refuses_is_named_by_its_openlineage_path() -> None:
    from mlaudit.lineage.openlineage import check_contract  # noqa: PLC0415

    mapped = {"event_type": "lineage", "occurred_at": "2026-11-30T00:00:00Z", "run_id": "r" * 200,
              "action": "COMPLETE"}
    with pytest.raises(DomainError) as caught:
        check_contract(json.dumps({"events": [mapped]}).encode(), good())
    assert [(p["path"], p["rule"]) for p in caught.value.errors] == [("$.run.runId", "string_too_long")]


def test_a_body_that_is_two_kinds_at_once_is_refused() -> None:
    event = good()
    del event["run"]
    event["dataset"] = {"namespace": "a", "name": "b"}
    assert [(p["path"], p["rule"]) for p in validate(event)] == [("$", "event_kind")]


def test_a_run_event_without_event_type_is_a_run() -> None:
    event = good()
    del event["eventType"]
    assert to_contract_event(parse_openlineage(json.dumps(event).encode()))["action"] == "RUN"


def test_run_ids_are_lower_case_so_runs_join_across_producers() -> None:
    event = good()
    event["run"]["runId"] = RUN_ID.upper()
    assert to_contract_event(event)["run_id"] == RUN_ID


def test_datasets_named_twice_are_one_edge_and_refs_join_namespace_and_name() -> None:
    event = good()
    event["inputs"].append(copy.deepcopy(event["inputs"][0]))
    assert to_contract_event(event)["inputs"] == [dataset_ref(event["inputs"][0])]
    assert dataset_ref({"namespace": "s3://b", "name": "p/f"}) == "s3://b/p/f"


def test_the_200_column_event_is_accepted_and_fits_one_queue_message() -> None:
    from mlaudit.pack import pack_records  # noqa: PLC0415

    from tests.unit.test_lineage_bounds import wide_run_event

    event = contract(json.dumps(wide_run_event(200)).encode())
    assert len(event.details["outputs"][0]["facets"]["columnLineage"]["fields"]) == 200
    record = {"details": event.details.text, "event_id": "e"}
    packs = pack_records([_leaf(record)], "key", IngestLimits().max_message_bytes)
    assert len(packs) == 1


def _leaf(values: dict[str, Any]) -> dict[str, Any]:
    from mlaudit.leaf import LEAF_ORDER  # noqa: PLC0415

    record: dict[str, Any] = dict.fromkeys(LEAF_ORDER)
    for name in ("inputs", "outputs", "actor_roles", "dq_violations"):
        record[name] = []
    record.update(values, event_type="lineage", occurred_at="2026-11-30T00:00:00.000Z", dq_status="pass")
    return record


# Any JSON value, and good events with one part replaced by any JSON value: the mapper
# answers an event or a refusal naming a path, never a crash.
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=12,
)
_PARTS = [["run"], ["run", "runId"], ["run", "facets"], ["run", "facets", "parent"], ["run", "facets", "parent", "run"],
          ["job"], ["job", "facets"], ["job", "facets", "sql"], ["inputs"], ["inputs", 0], ["inputs", 0, "inputFacets"],
          ["outputs", 0, "facets"], ["outputs", 0, "facets", "schema"], ["eventTime"], ["eventType"], ["producer"]]


@settings(max_examples=300, deadline=None)
@given(st.one_of(_json, st.tuples(st.sampled_from(_PARTS), _json)))
def test_any_input_is_mapped_or_refused_with_paths(value: Any) -> None:
    body = changed(*value) if isinstance(value, tuple) else value
    try:
        (event,) = parse_events(lineage_request_body(json.dumps(body).encode()), IngestLimits())
    except DomainError as error:
        assert status_of(error) in (400, 422)
        assert all(p["path"].startswith("$") and p["rule"] and p["message"] for p in error.errors)
    else:
        assert event.details == body
