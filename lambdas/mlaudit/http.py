"""HTTP answers for API Gateway proxy integrations: one error type, one JSON shape.

Every error body is ``{"error": <code>, "message": <text>, "errors": [...]}``;
``errors`` lists field problems as ``{"index", "path", "rule", "message"}``.
Messages never echo submitted values (they may hold personal data).
"""

from __future__ import annotations

import json
from typing import Any


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors or []
        self.headers = headers or {}

    def response(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return json_response(self.status, body, self.headers)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
    }


def header(event: dict[str, Any], name: str) -> str | None:
    """Case-insensitive request header lookup."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == wanted:
            return value
    return None
