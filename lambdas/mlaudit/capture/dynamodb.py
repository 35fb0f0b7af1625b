"""A DynamoDB stream's records, as EventBridge Pipes delivers them to the capture function
(a JSON array of stream records, each with its `eventSourceARN`), -> contract events
through the table's mapping in `tables.json`.

The event id is made from the stream and the record's `eventID`: a batch Pipes delivers
again (after a failure, a timeout, a restart) stores nothing twice. The record's own
identity is kept in `details.captured_from`."""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal, InvalidOperation
from typing import Any

from mlaudit.capture.common import Refused, event_id, need
from mlaudit.capture.tables import TableMapping

SOURCE = "aws:dynamodb"
_OPERATIONS = {"INSERT": "insert", "MODIFY": "modify", "REMOVE": "remove"}


def table_of(arn: str) -> str:
    """arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label> -> <name>."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "dynamodb" or not parts[5].startswith("table/"):
        raise Refused("eventSourceARN", "arn", "a DynamoDB stream ARN")
    return parts[5].split("/")[1]


def map_record(record: Any, mappings: dict[str, TableMapping]) -> dict[str, Any] | None:
    """One stream record -> its event, None when the mapping records nothing, or Refused."""
    if not isinstance(record, dict):
        raise Refused("$", "type", "a DynamoDB stream record object")
    if record.get("eventSource") != SOURCE:
        raise Refused("eventSource", "allowed", f"the source must be {SOURCE}")
    record_id = need(record, "eventID", "eventID")
    operation = _OPERATIONS.get(need(record, "eventName", "eventName"))
    if operation is None:
        raise Refused("eventName", "allowed", "INSERT, MODIFY or REMOVE")
    arn = need(record, "eventSourceARN", "eventSourceARN")
    table = table_of(arn)
    mapping = mappings.get(table)
    if mapping is None:
        raise Refused("eventSourceARN", "unmapped_table", "tables.json has no mapping for this table")
    change = need(record, "dynamodb", "dynamodb", dict)
    new = image(change.get("NewImage"), "dynamodb.NewImage")
    old = image(change.get("OldImage"), "dynamodb.OldImage")
    if operation != "remove" and new is None:
        raise Refused("dynamodb.NewImage", "required", "the stream's view type must include new images "
                      "(NEW_IMAGE or NEW_AND_OLD_IMAGES)")
    event = mapping.event(operation, new, old, change.get("ApproximateCreationDateTime"), event_id(arn, record_id))
    if event is None:
        return None
    origin = {"source": SOURCE, "table": arn.split("/stream/", 1)[0], "record": record_id,
              "sequence_number": change.get("SequenceNumber"), "operation": operation}
    event["details"] = {**event.get("details", {}), "captured_from": {k: v for k, v in origin.items() if v}}
    return event


def image(value: Any, path: str) -> dict[str, Any] | None:
    """A stream image (attribute name -> typed value) as plain values."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Refused(path, "type", "an attribute map")
    return {name: attribute(typed, f"{path}.{name}") for name, typed in value.items()}


def attribute(typed: Any, path: str) -> Any:
    """DynamoDB's typed JSON ({"S": ...}, {"N": "1.5"}, {"M": {...}}, ...) -> a value."""
    if not isinstance(typed, dict) or len(typed) != 1:
        raise Refused(path, "type", "one DynamoDB type descriptor")
    (kind, value), = typed.items()
    try:
        if kind == "S":
            return str(value)
        if kind == "N":
            return Decimal(value)
        if kind == "BOOL":
            return bool(value)
        if kind == "NULL":
            return None
        if kind == "M":
            return {k: attribute(v, f"{path}.{k}") for k, v in value.items()}
        if kind == "L":
            return [attribute(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "SS":
            return set(value)
        if kind == "NS":
            return {Decimal(v) for v in value}
        if kind == "B":
            return base64.b64decode(value)
        if kind == "BS":
            return [base64.b64decode(v) for v in value]
    except (InvalidOperation, TypeError, AttributeError, binascii.Error):
        raise Refused(path, "type", f"a value of DynamoDB type {kind}") from None
    raise Refused(path, "type", "a DynamoDB type descriptor (S, N, B, BOOL, NULL, M, L, SS, NS, BS)")
