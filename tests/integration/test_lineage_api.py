"""OpenLineage from the official client, end to end: openlineage-python's HttpTransport,
configured as its docs say (url, endpoint, api_key auth with a machine token), sends a
job's START and COMPLETE, a DatasetEvent and a JobEvent to the local stack; each is
stored once, read back with pyarrow, and the lineage query returns the graph. Bad
lineage input gets a 4xx naming the problem and stores nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from mlaudit.layout import parse_partition
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
from openlineage.client.facet_v2 import column_lineage_dataset, schema_dataset, sql_job
from openlineage.client.transport.http import HttpConfig, HttpTransport

from local import client
from tests.integration.helpers import drained
from tests.integration.test_queries_api import run_query

NAMESPACE = f"pytest-{uuid.uuid4().hex[:8]}"
TODAY = datetime.now(UTC).date().isoformat()


STARTED = datetime.now(UTC)


def now(seconds: int = 0) -> str:
    """Event times a second apart where order matters: two events made in the same
    millisecond would sort either way once stored."""
    return (STARTED + timedelta(seconds=seconds)).isoformat()


def transport(config: dict[str, Any], endpoint: str = "v1/lineage") -> HttpTransport:
    token = client.machine_token(config, ["lineage.write"])
    return HttpTransport(HttpConfig.from_dict({
        "type": "http", "url": config["api_url"] + "/", "endpoint": endpoint,
        "auth": {"type": "api_key", "apiKey": token},
    }))


def run_events(run_id: str) -> list[RunEvent]:
    job = Job(namespace=NAMESPACE, name="features.build",
              facets={"sql": sql_job.SQLJobFacet(query="INSERT INTO features SELECT a FROM raw")})
    inputs = [InputDataset(namespace=NAMESPACE, name="raw")]
    outputs = [OutputDataset(namespace=NAMESPACE, name="features", facets={
        "schema": schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name=f"c{i}", type="DOUBLE") for i in range(200)
        ]),
        "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields={
            f"c{i}": column_lineage_dataset.Fields(inputFields=[column_lineage_dataset.InputField(
                namespace=NAMESPACE, name="raw", field=f"r{i}",
                transformations=[column_lineage_dataset.Transformation(type="DIRECT", subtype="IDENTITY")])])
            for i in range(200)
        }),
    })]
    return [
        RunEvent(eventType=RunState.START, eventTime=now(), run=Run(runId=run_id), job=job, inputs=inputs),
        RunEvent(eventType=RunState.COMPLETE, eventTime=now(1), run=Run(runId=run_id), job=job,
                 inputs=inputs, outputs=outputs),
    ]


def lineage_rows(config: dict[str, Any]) -> list[dict[str, Any]]:
    """This test's lineage events in the lake, read with pyarrow."""
    s3 = client.aws_client(config, "s3")
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config["bucket"],
                                                             Prefix="events/"):
        for item in page.get("Contents", []):
            if parse_partition(item["Key"])[1] != "lineage":
                continue
            body = s3.get_object(Bucket=config["bucket"], Key=item["Key"])["Body"].read()
            table = pq.read_table(pa.BufferReader(body))
            rows += [row for row in table.to_pylist() if NAMESPACE in json.dumps(row.get("details"))]
    return rows


@pytest.fixture(scope="module")
def sent(local_stack: dict[str, Any]) -> dict[str, Any]:
    run_id = str(uuid.uuid4())
    events = [
        *run_events(run_id),
        DatasetEvent(eventTime=now(), dataset=StaticDataset(namespace=NAMESPACE, name="reference")),
        JobEvent(eventTime=now(), job=Job(namespace=NAMESPACE, name="features.nightly"),
                 inputs=[InputDataset(namespace=NAMESPACE, name="reference")],
                 outputs=[OutputDataset(namespace=NAMESPACE, name="features")]),
    ]
    statuses = [transport(local_stack).emit(event).status_code for event in events]
    # The clients' default endpoint (Marquez's) works too.
    statuses.append(transport(local_stack, "api/v1/lineage").emit(
        RunEvent(eventType=RunState.RUNNING, eventTime=now(2), run=Run(runId=run_id),
                 job=Job(namespace=NAMESPACE, name="features.build"))).status_code)
    drained(local_stack)
    return {"run_id": run_id, "statuses": statuses, "rows": lineage_rows(local_stack)}


def test_the_official_client_is_answered_like_marquez(sent: dict[str, Any]) -> None:
    assert sent["statuses"] == [201] * 5


def test_each_lineage_event_is_stored_once_with_its_mapping(sent: dict[str, Any]) -> None:
    rows = sent["rows"]
    assert len(rows) == 5 and len({row["event_id"] for row in rows}) == 5
    run_rows = sorted((r for r in rows if r["run_id"] == sent["run_id"]), key=lambda r: r["occurred_at"])
    assert [r["action"] for r in run_rows] == ["START", "COMPLETE", "RUNNING"]
    complete = run_rows[1]
    assert complete["resource"] == f"{NAMESPACE}/features.build"
    assert complete["inputs"] == [f"{NAMESPACE}/raw"] and complete["outputs"] == [f"{NAMESPACE}/features"]
    facets = json.loads(complete["details"])["outputs"][0]["facets"]
    assert len(facets["schema"]["fields"]) == 200 and len(facets["columnLineage"]["fields"]) == 200
    assert {r["action"] for r in rows if r["run_id"] is None} == {"DATASET", "JOB"}
    assert all(len(r["leaf_hash"]) == 64 for r in rows)


def test_the_lineage_query_returns_the_graph(local_stack: dict[str, Any], sent: dict[str, Any]) -> None:
    analyst = client.user_tokens(local_stack, "analyst")["id_token"]
    result = run_query(local_stack, analyst, "lineage_downstream", {
        "from_date": TODAY, "to_date": TODAY, "node_type": "dataset", "node_id": f"{NAMESPACE}/raw",
    })
    nodes = {(row["node_type"], row["node_id"]) for row in result["rows"]}
    assert ("run", sent["run_id"]) in nodes
    assert ("dataset", f"{NAMESPACE}/features") in nodes


@pytest.mark.parametrize(("body", "status", "rule"), [
    ({"hello": "world"}, 422, None),
    ({"eventType": "EXPLODED", "eventTime": "2026-11-30T00:00:00Z", "producer": "https://x.test/p",
      "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
      "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "n", "name": "j"}}, 422, "unknown_value"),
    ({"eventType": "START", "eventTime": "2026-11-30T00:00:00Z", "producer": "https://x.test/p",
      "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
      "run": {}, "job": {"namespace": "n", "name": "j"}}, 422, "required"),
    ("not json at all", 400, None),
])
def test_bad_lineage_is_refused_naming_the_problem(local_stack, body, status, rule) -> None:
    token = client.machine_token(local_stack, ["lineage.write"])
    answer = requests.post(local_stack["api_url"] + "/v1/lineage",
                           data=body if isinstance(body, str) else json.dumps(body),
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                           timeout=30)
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert error["message"]
    if rule is not None:
        assert any(e["rule"] == rule and e["path"].startswith("$") for e in error["errors"]), error


def test_an_oversized_facet_is_refused_and_nothing_is_stored(local_stack: dict[str, Any]) -> None:
    marker = f"oversized-{uuid.uuid4().hex}"
    token = client.machine_token(local_stack, ["lineage.write"])
    payload = {"eventType": "START", "eventTime": now(), "producer": "https://x.test/p",
               "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
               "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": NAMESPACE, "name": marker},
               "inputs": [{"namespace": NAMESPACE, "name": "big", "facets": {"blob": {
                   "_producer": "https://x.test/p", "_schemaURL": "https://x.test/s", "data": "x" * 300_000}}}]}
    answer = requests.post(local_stack["api_url"] + "/v1/lineage", json=payload,
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code in (413, 422), answer.text
    assert any(e["rule"] == "size" for e in answer.json().get("errors", [])) or answer.status_code == 413
    drained(local_stack)
    assert not any(marker in json.dumps(row.get("details")) for row in lineage_rows(local_stack))


def test_a_workload_without_lineage_write_gets_403(local_stack: dict[str, Any]) -> None:
    token = client.machine_token(local_stack, ["events.write"])
    answer = requests.post(local_stack["api_url"] + "/v1/lineage", json={},
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 403
