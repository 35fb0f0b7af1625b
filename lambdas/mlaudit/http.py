"""HTTP answers for API Gateway proxy integrations: one table of statuses, one JSON shape,
one handler shape (`api_handler`).

The domain raises `mlaudit.errors` kinds; `ERROR_STATUS` gives each its HTTP status.
Every error body is ``{"error": <code>, "message": <text>, "errors": [...]}``;
``errors`` lists field problems as ``{"index", "path", "rule", "message"}``.
Messages never echo submitted values (they may hold personal data).
"""

from __future__ import annotations

import functools
import json
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

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
from mlaudit.routes import ROUTES, route_of

if TYPE_CHECKING:
    from mlaudit.bootstrap import FunctionApp

S = TypeVar("S")
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


# An HTTP function's operation: the request's event and the function's service in, the
# answer's body out (the route gives its status).
Operation = Callable[[dict[str, Any], S], Any]


def api_handler(app: FunctionApp[S], operations: Mapping[str, Operation[S]], logger: Any,
                unavailable: str) -> Handler:
    """Every HTTP function's Lambda handler, from its operations: the route an event was
    sent to (`mlaudit.routes`) names the operation, called with the function's service; the
    answer is the route's status with the operation's body as JSON, or no body where the
    route declares none. A public route's operation gets no service (None): it serves
    nothing about the audit trail. Failures map to HTTP once (`answers_errors`).

    The operations must be exactly those the routes table gives this function."""
    served = {route.operation for route in ROUTES if route.function == app.name}
    if served != set(operations):
        raise ValueError(f"{app.name}: the routes name operations {sorted(served)}, "
                         f"the handler has {sorted(operations)}")

    @logger.inject_lambda_context(clear_state=True)
    @answers_errors(logger, unavailable)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        route = route_of(event)
        if route is None or route.function != app.name:
            raise NotFound("not_found", "No such route.")
        body = operations[route.operation](event, None if route.public else app.service())
        if route.response is None:
            return {"statusCode": route.status, "headers": {}, "body": ""}
        return json_response(route.status, body)

    return handler


def header(event: dict[str, Any], name: str) -> str | None:
    """Case-insensitive request header lookup."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == wanted:
            return value
    return None
