"""OpenLineage 2-0-x events: validation, and the mapping to the contract's `lineage` event.

Facts from the spec (spec/OpenLineage.json, 2-0-2, and spec/facets/ParentRunFacet.json):

- every event has `eventTime` (date-time), `producer` (URI) and `schemaURL` (URI);
- a RunEvent has `run` (`runId`, a UUID) and `job` (`namespace`, `name`); its optional
  `eventType` is one of START, RUNNING, COMPLETE, ABORT, FAIL, OTHER; `inputs` and
  `outputs` are arrays of datasets (`namespace`, `name`, `facets`, and
  `inputFacets` / `outputFacets`);
- a JobEvent has `job` and no `run`; a DatasetEvent has `dataset` and not both `job` and
  `run` (the three are `oneOf`: a body that could be two of them is refused);
- facets are objects of facets, each an object with `_producer` and `_schemaURL` (URIs);
- the `parent` run facet names the parent run (`run.runId`) and job (`job.namespace`, `name`).

Extra properties are allowed by the spec and kept. The mapped event keeps the OpenLineage
event whole, as received, in `details` (bounded JSON: stored, leaf-hashed and proven like
any event); the columns the lineage queries need are typed columns (see `to_contract_event`
and docs/lineage.md). Errors name the JSONPath in the OpenLineage event and the rule.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from mlaudit.contract import JsonBoundsError, bounded_json, json_path
from mlaudit.errors import MAX_REPORTED_ERRORS, DomainError, Invalid, InvalidEvents
from mlaudit.ingest.request import IngestLimits, parse_events

EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
RUN, JOB, DATASET = "RunEvent", "JobEvent", "DatasetEvent"
# What `action` says for events without an eventType of their own.
KIND_ACTIONS = {RUN: "RUN", JOB: "JOB", DATASET: "DATASET"}
# The contract's columns this mapping fills, and their bounds (events.EventIn).
MAX_REF = 512  # inputs, outputs, resource (events.Ref)
MAX_DATASETS = 100  # inputs, outputs (events.RefList)
MAX_URI = 2048  # producer, schemaURL, facets' _producer and _schemaURL
# Spec majors whose events this mapping reads (1-x and 2-x share RunEvent's shape).
SPEC_MAJORS = ("1", "2")
# What Marquez answers to a stored event (openlineage-python's HttpTransport needs a 2xx).
ACCEPTED_STATUS = 201

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")  # RFC 3986: scheme ":" and no spaces
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
_SPEC_URL = re.compile(r"^https?://openlineage\.io/spec/(\d+)-(\d+)-(\d+)/OpenLineage\.json")


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, path: list[str | int], rule: str, message: str) -> None:
        self.items.append({"path": json_path(path), "rule": rule, "message": message})


def parse_openlineage(body: bytes) -> dict[str, Any]:
    """A JSON body -> the OpenLineage event object, validated (else Invalid: 400, or InvalidEvents: 422)."""
    try:
        event = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # includes UnicodeDecodeError
        detail = "numbers must be finite (no NaN or Infinity)" if isinstance(exc, _NonFinite) else "not JSON"
        raise Invalid("malformed_json", f"Request body is not valid JSON: {detail}.") from None
    problems = validate(event)
    if problems:
        raise _refusal(problems)
    return event


class _NonFinite(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NonFinite(name)


def event_kind(event: dict[str, Any]) -> str | None:
    """RunEvent, JobEvent or DatasetEvent by the spec's `oneOf`; None when none or several fit."""
    has = {key for key in ("run", "job", "dataset") if key in event}
    if {"run", "job"} <= has:
        return RUN  # DatasetEvent forbids run and job together, JobEvent forbids run
    if has == {"job"}:
        return JOB
    if has == {"dataset"} or has == {"dataset", "run"}:
        return DATASET
    return None


def validate(event: Any) -> list[dict[str, str]]:
    """Every way `event` breaks the OpenLineage 2-0-x spec, as {path, rule, message}."""
    p = _Problems()
    if not isinstance(event, dict):
        p.add([], "type", "an OpenLineage event is a JSON object (RunEvent, DatasetEvent or JobEvent)")
        return p.items
    for key in ("eventTime", "producer", "schemaURL"):
        if key not in event:
            p.add([key], "required", "required in every OpenLineage event")
    if "eventTime" in event:
        _check_time(p, event["eventTime"], ["eventTime"])
    for key in ("producer", "schemaURL"):
        if key in event:
            _check_uri(p, event[key], [key])
    url = event.get("schemaURL")
    if isinstance(url, str) and (found := _SPEC_URL.match(url)) and found.group(1) not in SPEC_MAJORS:
        p.add(["schemaURL"], "spec_version",
              f"OpenLineage spec {found.group(1)}-x is not supported (majors {', '.join(SPEC_MAJORS)})")
    kind = event_kind(event)
    if kind is None:
        if not {"run", "job", "dataset"} & event.keys():
            p.add([], "event_kind", "not an OpenLineage event: a RunEvent has run and job, a JobEvent job, "
                  "a DatasetEvent dataset")
        elif "run" in event:
            p.add(["job"], "required", "a RunEvent has a job")
        else:
            p.add([], "event_kind", "both a JobEvent and a DatasetEvent (job and dataset): send one of them")
        return p.items
    if kind == RUN:
        if "eventType" in event and event["eventType"] not in EVENT_TYPES:
            p.add(["eventType"], "unknown_value", f"eventType is one of {', '.join(EVENT_TYPES)}")
        _check_run(p, event["run"], ["run"])
    if kind in (RUN, JOB):
        _check_named(p, event["job"], ["job"], facet_key="facets")
        for side in ("inputs", "outputs"):
            if side in event:
                _check_datasets(p, event[side], [side], "inputFacets" if side == "inputs" else "outputFacets")
    else:
        _check_named(p, event["dataset"], ["dataset"], facet_key="facets")
    return p.items


def _check_time(p: _Problems, value: Any, path: list[str | int]) -> None:
    if not isinstance(value, str):
        p.add(path, "type", "a date-time string (RFC 3339)")
    elif not _RFC3339.match(value):
        p.add(path, "rfc3339", "an RFC 3339 date-time with a UTC offset, such as 2026-11-30T01:02:03.456Z")
    else:
        try:
            datetime.fromisoformat(value.replace("z", "Z").replace("t", "T")).astimezone(UTC)
        except ValueError:
            p.add(path, "rfc3339", "not a real date and time")
        except OverflowError:
            p.add(path, "rfc3339", "outside years 1 to 9999 in UTC")


def _check_uri(p: _Problems, value: Any, path: list[str | int]) -> None:
    if not isinstance(value, str):
        p.add(path, "type", "a URI string")
    elif len(value) > MAX_URI:
        p.add(path, "max_length", f"at most {MAX_URI} characters")
    elif not _URI.match(value):
        p.add(path, "uri", "a URI with a scheme, such as https://github.com/OpenLineage/OpenLineage")


def _check_string(p: _Problems, value: Any, path: list[str | int]) -> bool:
    if not isinstance(value, str):
        p.add(path, "type", "a string")
        return False
    if not value:
        p.add(path, "min_length", "must not be empty")
        return False
    return True


def _check_object(p: _Problems, value: Any, path: list[str | int], what: str) -> bool:
    if not isinstance(value, dict):
        p.add(path, "type", f"{what} is a JSON object")
        return False
    return True


def _check_run(p: _Problems, run: Any, path: list[str | int]) -> None:
    if not _check_object(p, run, path, "run"):
        return
    if "runId" not in run:
        p.add([*path, "runId"], "required", "a run has a runId (a UUID)")
    elif not isinstance(run["runId"], str) or not _UUID.match(run["runId"]):
        p.add([*path, "runId"], "uuid", "runId is a UUID (8-4-4-4-12 hexadecimal digits)")
    facets = run.get("facets")
    if "facets" in run:
        _check_facets(p, facets, [*path, "facets"])
    if isinstance(facets, dict) and isinstance(facets.get("parent"), dict):
        _check_parent(p, facets["parent"], [*path, "facets", "parent"])


def _check_parent(p: _Problems, parent: dict[str, Any], path: list[str | int]) -> None:
    run = parent.get("run")
    if _check_object(p, run, [*path, "run"], "the parent facet's run") and not (
        isinstance(run.get("runId"), str) and _UUID.match(run["runId"])
    ):
        p.add([*path, "run", "runId"], "uuid", "the parent run's runId is a UUID")
    job = parent.get("job")
    if _check_object(p, job, [*path, "job"], "the parent facet's job"):
        for key in ("namespace", "name"):
            if key not in job:
                p.add([*path, "job", key], "required", f"the parent job has a {key}")
            else:
                _check_string(p, job[key], [*path, "job", key])


def _check_named(p: _Problems, value: Any, path: list[str | int], facet_key: str) -> None:
    what = "a job" if path[-1] == "job" else "a dataset"
    if not _check_object(p, value, path, what):
        return
    for key in ("namespace", "name"):
        if key not in value:
            p.add([*path, key], "required", f"{what} has a {key}")
        else:
            _check_string(p, value[key], [*path, key])
    if facet_key in value:
        _check_facets(p, value[facet_key], [*path, facet_key])


def _check_datasets(p: _Problems, value: Any, path: list[str | int], side_facets: str) -> None:
    if not isinstance(value, list):
        p.add(path, "type", "an array of datasets")
        return
    if len(value) > MAX_DATASETS:
        p.add(path, "max_items", f"at most {MAX_DATASETS} datasets")
    for i, dataset in enumerate(value[:MAX_DATASETS]):
        _check_named(p, dataset, [*path, i], facet_key="facets")
        if isinstance(dataset, dict) and side_facets in dataset:
            _check_facets(p, dataset[side_facets], [*path, i, side_facets])


def _check_facets(p: _Problems, facets: Any, path: list[str | int]) -> None:
    if not _check_object(p, facets, path, "facets"):
        return
    for name, facet in facets.items():
        if not _check_object(p, facet, [*path, name], "a facet"):
            continue
        for key in ("_producer", "_schemaURL"):
            if key not in facet:
                p.add([*path, name, key], "required", f"every facet has {key} (a URI)")
            else:
                _check_uri(p, facet[key], [*path, name, key])


def _refusal(problems: list[dict[str, str]]) -> InvalidEvents:
    more = f" (first {MAX_REPORTED_ERRORS} shown)" if len(problems) > MAX_REPORTED_ERRORS else ""
    return InvalidEvents(
        "validation_failed",
        f"{len(problems)} problem(s) in the OpenLineage event; nothing was stored{more}.",
        problems[:MAX_REPORTED_ERRORS],
    )


# ---------------------------------------------------------------- mapping


def dataset_ref(dataset: dict[str, Any]) -> str:
    """One dataset's id in the lake's `inputs` / `outputs` / `resource`: namespace "/" name
    (s3://bucket + path/file -> s3://bucket/path/file, as OpenLineage's naming reads)."""
    return f"{dataset['namespace']}/{dataset['name']}"


job_ref = dataset_ref  # a job's id in `resource`: namespace "/" name


def to_contract_event(event: dict[str, Any]) -> dict[str, Any]:
    """A validated OpenLineage event -> one contract v1 event (a JSON object for
    POST /v1/events). Refs longer than the columns allow and facets outside the JSON
    bounds are refused (InvalidEvents, 422) naming the OpenLineage path."""
    kind = event_kind(event)
    assert kind is not None, "validate first"
    p = _Problems()
    mapped: dict[str, Any] = {"event_type": "lineage", "occurred_at": event["eventTime"]}
    if kind == RUN:
        mapped["run_id"] = event["run"]["runId"].lower()
        parent = (event["run"].get("facets") or {}).get("parent")
        if isinstance(parent, dict):
            mapped["parent_run_id"] = parent["run"]["runId"].lower()
        mapped["action"] = event.get("eventType", KIND_ACTIONS[RUN])
    else:
        mapped["action"] = KIND_ACTIONS[kind]
    subject = event["dataset"] if kind == DATASET else event["job"]
    mapped["resource"] = _ref(p, subject, ["dataset" if kind == DATASET else "job"])
    if kind != DATASET:
        for side in ("inputs", "outputs"):
            refs = [_ref(p, d, [side, i]) for i, d in enumerate(event.get(side) or ())]
            if refs:
                mapped[side] = list(dict.fromkeys(refs))  # a dataset named twice is one edge
    try:
        mapped["details"] = bounded_json(event)
    except JsonBoundsError as error:
        p.add(error.path, error.bound, error.detail)  # depth, width, key_length, size, finite
    if p.items:
        raise _refusal(p.items)
    return mapped


def _ref(p: _Problems, named: dict[str, Any], path: list[str | int]) -> str:
    ref = dataset_ref(named)
    if len(ref) > MAX_REF:
        p.add([*path, "name"], "max_length", f"namespace/name is at most {MAX_REF} characters here")
    return ref


def lineage_request_body(body: bytes) -> bytes:
    """POST /v1/lineage's body (one OpenLineage event) -> the equivalent POST /v1/events
    body ({"events": [one contract event]}), or a domain error (mlaudit.errors) naming each problem. The route
    hands the result to the ingest service unchanged (same contract, rules, idempotency,
    queue and writer) and answers `ACCEPTED_STATUS` with an empty body, as Marquez does."""
    event = parse_openlineage(body)
    mapped = to_contract_event(event)
    details = mapped.pop("details")
    # details' canonical text was made by the bounds check: splice it, do not encode twice.
    head = json.dumps(mapped, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    out = b'{"events":[' + head[:-1].encode() + b',"details":' + details.text.encode() + b"}]}"
    check_contract(out, event)
    return out


# Where each mapped column comes from in the OpenLineage event (for the contract's errors).
_SOURCES: dict[str, list[str | int]] = {
    "occurred_at": ["eventTime"], "run_id": ["run", "runId"],
    "parent_run_id": ["run", "facets", "parent", "run", "runId"], "action": ["eventType"],
    "inputs": ["inputs"], "outputs": ["outputs"], "details": [],
}


def check_contract(contract_body: bytes, event: dict[str, Any]) -> None:
    """The mapped body through the contract itself (ingest's parser): what the ingest
    service will accept, or a 422 naming the OpenLineage paths the refused fields came from."""
    try:
        parse_events(contract_body, IngestLimits(max_body_bytes=len(contract_body)))
    except DomainError as error:  # the contract's refusal
        subject = ["dataset"] if event_kind(event) == DATASET else ["job"]
        p = _Problems()
        for problem in error.errors:
            field = problem["path"].removeprefix("events[0].").split(".")[0].split("[")[0]
            p.add(_SOURCES.get(field, subject), problem["rule"], problem["message"])
        raise _refusal(p.items or [{"path": "$", "rule": error.code, "message": error.message}]) from None

