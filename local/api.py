"""An API Gateway (REST, Lambda proxy) emulator that runs the real authorizer and the
real handlers in-process.

Per request, in API Gateway's order: route match (404 unknown path, 405 wrong
method), payload limit (413 over 10 MB), the REQUEST authorizer
(`mlaudit.handlers.authorizer.handler`: an exception "Unauthorized" is 401, a
policy that does not allow the method ARN is 403), then the route's handler with
a REST proxy event whose `requestContext.authorizer` is the authorizer's context.
Errors use the mlaudit JSON shape (the CDK app gives API Gateway's gateway
responses the same bodies, from `mlaudit.auth`).
"""

from __future__ import annotations

import base64
import fnmatch
import importlib
import json
import logging
import secrets
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mlaudit import auth
from mlaudit.functions import spec
from mlaudit.routes import API_PAYLOAD_LIMIT_BYTES, AUTHORIZER_CACHE_SECONDS, ROUTES, Route, match, path_exists

from local.runtime import LambdaContext

logger = logging.getLogger(__name__)


Handler = Callable[[dict[str, Any], Any], Any]


def new_api_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(10))


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, {"error": code, "message": message})


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status, {"Content-Type": "application/json"}, json.dumps(body).encode())


@dataclass
class ApiEmulator:
    region: str
    account_id: str
    stage: str
    function_timeouts: dict[str, int]  # handler module -> Lambda timeout (seconds)
    api_id: str = ""
    # API Gateway caches an authorizer's policy per identity source (the Authorization
    # header) and reuses it for every method: emulated so a too-narrow policy shows up here.
    authorizer_cache_seconds: float = AUTHORIZER_CACHE_SECONDS
    routes: tuple[Route, ...] = ROUTES
    load_handler: Callable[[str], Handler] = lambda name: importlib.import_module(  # noqa: E731
        f"mlaudit.handlers.{name}"
    ).handler

    def __post_init__(self) -> None:
        self.api_id = self.api_id or new_api_id()
        self._policy_cache: dict[str, tuple[float, dict[str, Any]]] = {}

    @property
    def arn_prefix(self) -> str:
        return f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/{self.stage}"

    def handle(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> Response:
        url = urlsplit(raw_path)
        stage_prefix = f"/{self.stage}"
        if url.path != stage_prefix and not url.path.startswith(stage_prefix + "/"):
            return _error(404, "not_found", "No such route.")
        path = url.path[len(stage_prefix):] or "/"
        found = match(method, path)
        if found is None:
            if path_exists(path):
                return _error(405, "method_not_allowed", "Method not allowed on this route.")
            return _error(404, "not_found", "No such route.")
        route, path_params = found
        if len(body) > API_PAYLOAD_LIMIT_BYTES:
            return _error(413, "payload_too_large", "Request body is too large.")

        single = {name: value for name, value in headers}  # last value wins, as in API Gateway
        multi: dict[str, list[str]] = {}
        for name, value in headers:
            multi.setdefault(name, []).append(value)
        request_id = str(uuid.uuid4())

        # A public route has no authorizer on its method (stacks/api.py): no token needed.
        decision = {} if route.public else self._authorize(
            route, method, path, single, multi, url.query, path_params, request_id
        )
        if isinstance(decision, Response):
            return decision
        event = self._proxy_event(
            route, method, path, single, multi, url.query, path_params, body, source_ip, request_id, decision
        )
        return self._invoke(route, event)

    def _authorize(
        self, route: Route, method: str, path: str, headers: dict[str, str], multi: dict[str, list[str]],
        query: str, path_params: dict[str, str], request_id: str,
    ) -> dict[str, Any] | Response:
        method_arn = f"{self.arn_prefix}/{method}{path}"
        single_query, multi_query = _query(query)
        event = {
            "type": "REQUEST",
            "methodArn": method_arn,
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": multi,
            "queryStringParameters": single_query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": {"apiId": self.api_id, "stage": self.stage, "requestId": request_id,
                               "accountId": self.account_id, "httpMethod": method},
        }
        identity = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if not identity:
            return _json(401, auth.UNAUTHORIZED_BODY)  # no identity source: API Gateway's own 401
        cached = self._policy_cache.get(identity)
        if cached and cached[0] > time.monotonic():
            result = cached[1]
        else:
            try:
                result = self.load_handler("authorizer")(
                    event, LambdaContext("authorizer", spec("authorizer").timeout_seconds, region=self.region)
                )
            except Exception as exc:
                if str(exc) == "Unauthorized":
                    return _json(401, auth.UNAUTHORIZED_BODY)  # never cached
                # Any other failure of the authorizer is a 500 in API Gateway.
                logger.exception("authorizer failed")
                return _error(500, "internal_error", "Internal server error.")
            if self.authorizer_cache_seconds > 0:
                self._policy_cache[identity] = (time.monotonic() + self.authorizer_cache_seconds, result)
        if not _policy_allows(result.get("policyDocument") or {}, method_arn):
            return _json(403, auth.FORBIDDEN_BODY)
        # API Gateway passes the context values as strings, plus the principalId.
        context = {k: str(v) for k, v in (result.get("context") or {}).items()}
        return {**context, "principalId": result.get("principalId", "")}

    def _proxy_event(
        self, route: Route, method: str, path: str, headers: dict[str, str], multi: dict[str, list[str]],
        query: str, path_params: dict[str, str], body: bytes, source_ip: str, request_id: str,
        authorizer_context: dict[str, Any],
    ) -> dict[str, Any]:
        text, is_base64 = _body(body)
        now = time.time()
        single_query, multi_query = _query(query)
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": headers or None,
            "multiValueHeaders": multi or None,
            "queryStringParameters": single_query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "body": text,
            "isBase64Encoded": is_base64,
            "requestContext": {
                "accountId": self.account_id,
                "apiId": self.api_id,
                "stage": self.stage,
                "resourcePath": route.path,
                "path": f"/{self.stage}{path}",
                "httpMethod": method,
                "protocol": "HTTP/1.1",
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "requestTimeEpoch": int(now * 1000),
                "domainName": headers.get("Host", ""),
                "identity": {
                    "sourceIp": source_ip,
                    "userAgent": next((v for k, v in headers.items() if k.lower() == "user-agent"), None),
                },
                "authorizer": authorizer_context,
            },
        }

    def _invoke(self, route: Route, event: dict[str, Any]) -> Response:
        context = LambdaContext(
            route.function, self.function_timeouts.get(route.function, 29), region=self.region
        )
        try:
            result = self.load_handler(route.function)(event, context)
            status = int(result["statusCode"])
            headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
            for name, values in (result.get("multiValueHeaders") or {}).items():
                headers[name] = ", ".join(str(v) for v in values)
            body = result.get("body") or ""
            raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
        except Exception:
            # A crashing handler or a malformed proxy response is API Gateway's 502.
            logger.exception("handler %s failed", route.function)
            return _error(502, "bad_gateway", "Internal server error.")
        return Response(status, headers, raw)


def _policy_allows(document: dict[str, Any], method_arn: str) -> bool:
    """IAM evaluation for execute-api:Invoke on one ARN: an explicit Deny wins, else
    an Allow must match. `*` in a resource matches any characters, as in IAM."""
    allowed = False
    for statement in _as_list(document.get("Statement")):
        actions = _as_list(statement.get("Action"))
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
            continue
        if any(fnmatch.fnmatchcase(method_arn, r) for r in _as_list(statement.get("Resource"))):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _query(query: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    if not query:
        return None, None
    multi = parse_qs(query, keep_blank_values=True)
    return {k: v[-1] for k, v in multi.items()}, multi


def _body(raw: bytes) -> tuple[str | None, bool]:
    """Text bodies pass as strings; anything that is not UTF-8 goes base64, as API
    Gateway does for binary media types."""
    if not raw:
        return None, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), True


def handler_class(api: ApiEmulator) -> type[BaseHTTPRequestHandler]:
    class ApiHandler(BaseHTTPRequestHandler):
        server_version = "mlaudit-local-api"
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length_header = self.headers.get("Content-Length")
            try:
                length = int(length_header or 0)
            except ValueError:
                length = -1
            if length < 0 or self.headers.get("Transfer-Encoding"):
                # Chunked uploads are not worth emulating; a clear refusal beats a hang.
                response = _error(411, "length_required", "Content-Length is required.")
                self.close_connection = True
            elif length > API_PAYLOAD_LIMIT_BYTES:
                response = _error(413, "payload_too_large", "Request body is too large.")
                self.close_connection = True  # the unread body must not be parsed as a request
            else:
                body = self.rfile.read(length) if length else b""
                response = api.handle(
                    self.command, self.path, list(self.headers.items()), body, self.client_address[0]
                )
            self.send_response(response.status)
            for name, value in response.headers.items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # Paths can carry subject references: method and status only.
            logger.debug("api %s %s", self.command, code)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            logger.debug("api: %s", format % args)

    return ApiHandler
