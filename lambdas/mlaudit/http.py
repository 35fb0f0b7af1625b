"""HTTP answers for API Gateway proxy integrations: one error type, one JSON shape.

Every error body is ``{"error": <code>, "message": <text>, "errors": [...]}``;
``errors`` lists field problems as ``{"index", "path", "rule", "message"}``.
Messages never echo submitted values (they may hold personal data).
"""

from __future__ import annotations

import functools
import json
import traceback
from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


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


def answers_errors(logger: Any, unavailable: str) -> Callable[[Handler], Handler]:
    """Map failures to HTTP once, for every API handler: an ApiError becomes its own
    answer; anything else a 503 saying `unavailable`. Logs carry the error's code, or
    the exception's type and where it was raised, never its text (it may quote a value)."""

    def decorate(handle: Handler) -> Handler:
        @functools.wraps(handle)
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            try:
                return handle(event, context)
            except ApiError as error:
                logger.info("request refused", extra={"status": error.status, "error": error.code,
                                                      "problems": len(error.errors)})
                return error.response()
            except Exception as exc:  # noqa: BLE001 - the caller gets a 503 and may retry
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                logger.error("request failed", extra={"error_type": type(exc).__name__,
                                                      "raised_at": f"{frame.filename}:{frame.lineno}"})
                return ApiError(503, "unavailable", unavailable).response()

        return handler

    return decorate


def dispatch(
    event: dict[str, Any], operations: dict[str, Callable[[dict[str, Any]], Any]],
    statuses: dict[str, int] | None = None,
) -> tuple[int, Any]:
    """Run the operation the routes table names for this event's route: (status, body)."""
    from mlaudit.routes import route_of  # noqa: PLC0415 - keeps the routes table out of http's import

    route = route_of(event)
    if route is None or route.operation not in operations:
        raise ApiError(404, "not_found", "No such route.")
    return (statuses or {}).get(route.operation, 200), operations[route.operation](event)


def header(event: dict[str, Any], name: str) -> str | None:
    """Case-insensitive request header lookup."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == wanted:
            return value
    return None
