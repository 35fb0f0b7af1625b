"""HTTP answers for API Gateway proxy integrations: one table of statuses, one JSON shape.

The domain raises `mlaudit.errors` kinds; `ERROR_STATUS` gives each its HTTP status.
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

from mlaudit.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Incomplete,
    Invalid,
    InvalidEvents,
    NotFound,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


# The one map from what the domain says to HTTP.
ERROR_STATUS: dict[type[DomainError], int] = {
    Invalid: 400,
    InvalidEvents: 422,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedMediaType: 415,
    Incomplete: 500,
    Unavailable: 503,
}


def status_of(error: DomainError) -> int:
    """The status of the most specific kind the table names (InvalidEvents before Invalid)."""
    return next(ERROR_STATUS[kind] for kind in type(error).__mro__ if kind in ERROR_STATUS)


def error_response(error: DomainError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error.code, "message": error.message}
    if error.errors:
        body["errors"] = error.errors
    headers = {} if error.retry_after_seconds is None else {"Retry-After": str(error.retry_after_seconds)}
    return json_response(status_of(error), body, headers)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
    }


def answers_errors(logger: Any, unavailable: str) -> Callable[[Handler], Handler]:
    """Map failures to HTTP once, for every API handler: a domain error becomes the
    answer `ERROR_STATUS` gives it; anything else a 503 saying `unavailable`. Logs carry
    the error's code, or the exception's type and where it was raised, never its text
    (it may quote a value)."""

    def decorate(handle: Handler) -> Handler:
        @functools.wraps(handle)
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            try:
                return handle(event, context)
            except DomainError as error:
                logger.info("request refused", extra={"status": status_of(error), "error": error.code,
                                                      "problems": len(error.errors)})
                return error_response(error)
            except Exception as exc:  # noqa: BLE001 - the caller gets a 503 and may retry
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                logger.error("request failed", extra={"error_type": type(exc).__name__,
                                                      "raised_at": f"{frame.filename}:{frame.lineno}"})
                return error_response(Unavailable("unavailable", unavailable))

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
        raise NotFound("not_found", "No such route.")
    return (statuses or {}).get(route.operation, 200), operations[route.operation](event)


def header(event: dict[str, Any], name: str) -> str | None:
    """Case-insensitive request header lookup."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == wanted:
            return value
    return None
