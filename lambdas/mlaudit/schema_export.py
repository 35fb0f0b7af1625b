"""Write the JSON Schema of the v1 event contract: `python -m mlaudit.schema_export [FILE]`.

Generated from the pydantic models so clients in any language validate against
exactly what the ingest function enforces. The same run writes the schema's
validation keywords beside `mlaudit.contract` (`contract_v1.json`), from which the
ingest function compiles its fast decoder (`ingest.decode`). A test fails when
either file is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mlaudit.contract import CONTRACT_FILE
from mlaudit.events import (
    JSON_MAX_BYTES,
    JSON_MAX_DEPTH,
    JSON_MAX_ITEMS,
    JSON_MAX_KEY_LENGTH,
    SERVER_OWNED_FIELDS,
    EventBatchIn,
    EventIn,
)

REPO_DOC = Path(__file__).resolve().parents[2] / "docs" / "event-schema.json"


def contract_schema() -> dict[str, Any]:
    single = EventIn.model_json_schema()
    batch = EventBatchIn.model_json_schema()
    definitions = {**single.pop("$defs", {}), **batch.pop("$defs", {})}
    definitions.pop("EventIn", None)  # the batch's copy of the single event
    definitions["AuditEventV1"] = single
    definitions["AuditEventBatchV1"] = batch
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/mlaudit/mlaudit/docs/event-schema.json",
        "title": "mlaudit audit event, contract v1",
        "description": (
            "POST /v1/events takes one AuditEventV1 object or an AuditEventBatchV1 "
            "({\"events\": [...]}, at most 500 events and 1 MB). Numbers must be finite. "
            f"Free-form JSON fields are bounded ({JSON_MAX_BYTES // 1024} KiB as canonical JSON, "
            f"depth {JSON_MAX_DEPTH}, {JSON_MAX_ITEMS} items per object or array, keys of at most "
            f"{JSON_MAX_KEY_LENGTH} characters). "
            "These fields are set by the server and refused in a body: "
            + ", ".join(sorted(SERVER_OWNED_FIELDS)) + "."
        ),
        "oneOf": [{"$ref": "#/$defs/AuditEventV1"}, {"$ref": "#/$defs/AuditEventBatchV1"}],
        "$defs": json.loads(json.dumps(definitions).replace("#/$defs/EventIn", "#/$defs/AuditEventV1")),
    }


def render() -> str:
    return json.dumps(contract_schema(), indent=2, sort_keys=True) + "\n"


_ANNOTATIONS = frozenset({"title", "description"})


def _keywords(schema: Any) -> Any:
    """The schema without its annotations (titles and descriptions): what validates."""
    if isinstance(schema, dict):
        return {key: _keywords(value) for key, value in schema.items() if key not in _ANNOTATIONS}
    if isinstance(schema, list):
        return [_keywords(item) for item in schema]
    return schema


def render_keywords() -> str:
    definitions = contract_schema()["$defs"]
    keywords = {
        "event": _keywords(definitions["AuditEventV1"]),
        "batch": _keywords(definitions["AuditEventBatchV1"]),
        "event_types": definitions["EventType"]["enum"],
    }
    return json.dumps(keywords, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_DOC
    target.write_text(render())
    CONTRACT_FILE.write_text(render_keywords())
    print(f"wrote {target} and {CONTRACT_FILE}")
