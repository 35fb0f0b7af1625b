"""What the API's routes answer, as named JSON Schemas: the OpenAPI document's response
components (`mlaudit.openapi`), so a generated client gets one typed model per answer.

A route's row in `mlaudit.routes` names its answer with `ref(NAME)`. Each schema lists
the fields the handler writes; `required` holds those it always writes, so a field added
later stays valid for old clients (no schema here forbids more). The schemathesis run
(tests/integration/test_openapi_conformance.py) holds the local stack's answers to them.
"""

from __future__ import annotations

from typing import Any

PREFIX = "#/components/schemas/"

_STRING: dict[str, Any] = {"type": "string"}
_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
_HEX = {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "SHA-256, hexadecimal."}
_STRINGS = {"type": "array", "items": _STRING}


def ref(name: str) -> dict[str, str]:
    """A reference to one of SCHEMAS (a KeyError for a name that is not there)."""
    SCHEMAS[name]  # noqa: B018 - fail at import on a typo, not in a generated client
    return {"$ref": PREFIX + name}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(required: list[str], properties: dict[str, Any], description: str) -> dict[str, Any]:
    return {"type": "object", "description": description, "required": required, "properties": properties}


SCHEMAS: dict[str, dict[str, Any]] = {
    "EventsAccepted": _object(
        ["accepted", "event_ids", "dq", "dq_violations"],
        {
            "accepted": {**_COUNT, "description": "Events stored (or stored by an earlier identical request)."},
            "event_ids": {**_STRINGS, "description": "Each event's id, in the request's order."},
            "dq": {"$ref": PREFIX + "DataQualityCounts"},
            "dq_violations": {"type": "array", "items": {"$ref": PREFIX + "DataQualityViolation"},
                              "description": "The events that broke a data-quality rule (stored all the same)."},
        },
        "POST /v1/events: what was stored, with its data-quality verdicts.",
    ),
    "DataQualityCounts": _object(
        ["pass", "warn", "fail"], {"pass": _COUNT, "warn": _COUNT, "fail": _COUNT},
        "Events of the request by data-quality status (rules/dq_rules.json).",
    ),
    "DataQualityViolation": _object(
        ["index", "event_id", "rules"],
        {"index": {**_COUNT, "description": "The event's position in the request."}, "event_id": _STRING,
         "rules": {**_STRINGS, "description": "Ids of the rules it broke."}},
        "One event's broken data-quality rules.",
    ),
    "Checkpoint": _object(
        ["seq", "tree_size", "root", "time"],
        {"seq": _COUNT, "tree_size": _COUNT, "root": _HEX, "prev": _STRING, "time": _STRING, "key_id": _STRING,
         "log_id": _STRING, "signature_algorithm": _STRING, "type": _STRING, "v": {"type": "integer"}},
        "A signed tree head of the integrity log (docs/integrity.md).",
    ),
    "SignedCheckpoint": _object(
        ["checkpoint", "signature"],
        {"checkpoint": {"$ref": PREFIX + "Checkpoint"},
         "signature": {**_STRING, "description": "Base64 signature over the checkpoint's canonical JSON."}},
        "A checkpoint and its KMS signature.",
    ),
    "Receipt": _object(
        ["event_id", "object_key", "leaf_index", "leaf_hash", "file_size", "file_root", "file_path"],
        {
            "event_id": _STRING, "object_key": _STRING, "leaf_encoding": {"type": "integer"},
            "leaf_index": _COUNT, "leaf_hash": _HEX,
            "leaf_record": {**_STRING, "description": "The stored values as hashed (canonical JSON)."},
            "file_size": _COUNT, "file_root": _HEX, "file_path": _STRINGS,
            "manifest": _nullable(_STRING), "log_index": _nullable(_COUNT), "log_entry": _nullable(_STRING),
            "checkpoint": _nullable({"$ref": PREFIX + "SignedCheckpoint"}), "log_path": _nullable(_STRINGS),
        },
        "An event's inclusion: in its file's Merkle tree, and of the file in the signed log.",
    ),
    "ConsistencyProof": _object(
        ["first", "second", "first_root", "second_root", "path"],
        {"first": _COUNT, "second": _COUNT, "first_root": _HEX, "second_root": _HEX, "path": _STRINGS},
        "An RFC 9162 consistency proof between two sizes of the integrity log.",
    ),
    "QueryParameter": _object(
        ["name", "type", "required"],
        {
            "name": _STRING,
            "type": {"type": "string", "enum": ["string", "date", "timestamp", "double", "integer"]},
            "required": {"type": "boolean"}, "description": _STRING,
            "default": {"type": ["string", "number"]}, "max_length": _COUNT, "pattern": _STRING,
            "minimum": {"type": "number"}, "maximum": {"type": "number"},
        },
        "A named query's parameter: send it in `parameters` by name.",
    ),
    "QueryColumn": _object(["name", "type"], {"name": _STRING, "type": _STRING, "description": _STRING},
                           "A column of a named query's result."),
    "NamedQuery": _object(
        ["name", "description", "parameters", "columns", "roles"],
        {"name": _STRING, "description": _STRING,
         "parameters": {"type": "array", "items": {"$ref": PREFIX + "QueryParameter"}},
         "columns": {"type": "array", "items": {"$ref": PREFIX + "QueryColumn"}},
         "roles": {**_STRINGS, "description": "The roles that may run it."}},
        "One named query.",
    ),
    "QueryCatalog": _object(
        ["queries"], {"queries": {"type": "array", "items": {"$ref": PREFIX + "NamedQuery"}}},
        "The named queries the caller's roles allow.",
    ),
    "QueryStarted": _object(
        ["execution_id", "query", "request_id"],
        {"execution_id": _STRING, "query": _STRING,
         "request_id": {**_STRING, "description": "The run's id in its audit event."}},
        "A named query run, started.",
    ),
    "QueryExecution": _object(
        ["execution_id", "query", "state", "bytes_scanned", "elapsed_ms"],
        {
            "execution_id": _STRING, "query": _STRING,
            "state": {"type": "string", "enum": ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]},
            "bytes_scanned": _nullable(_COUNT), "elapsed_ms": _nullable(_COUNT),
            "reason": {**_nullable(_STRING), "description": "Why it failed or was cancelled."},
            "columns": {"type": "array", "items": {"$ref": PREFIX + "QueryColumn"}},
            "rows": {"type": "array", "items": {"type": "object"},
                     "description": "This page's rows, by column name."},
            "next_page_token": {**_nullable(_STRING), "description": "The next page, or null on the last."},
        },
        "A query run's state and, once it succeeded, a page of its rows.",
    ),
    "SubjectEvents": _object(
        ["subject_pseudonym", "count", "truncated", "unreadable_personal_data", "access_event_id", "events"],
        {"subject_pseudonym": _STRING, "count": _COUNT, "truncated": {"type": "boolean"},
         "unreadable_personal_data": _COUNT, "access_event_id": _STRING,
         "events": {"type": "array", "items": {"type": "object"}, "description": "Each event, decrypted."}},
        "Every event held about a data subject (GDPR Art. 15).",
    ),
    "SubjectErased": _object(
        ["erased", "subject_pseudonym", "key_id", "erased_at", "erasure_event_id"],
        {"erased": {"type": "boolean"}, "subject_pseudonym": _STRING, "key_id": _STRING, "erased_at": _STRING,
         "erasure_event_id": _STRING},
        "A data subject's key destroyed (GDPR Art. 17).",
    ),
    "DeployedSettings": _object(["settings"], {"settings": {"type": "object"}}, "The settings in force."),
    "OpenApiDocument": _object(
        ["openapi", "info", "paths"],
        {"openapi": _STRING, "info": {"type": "object"}, "servers": {"type": "array", "items": {"type": "object"}},
         "paths": {"type": "object"}, "components": {"type": "object"}},
        "An OpenAPI 3.1 document.",
    ),
}
