"""An API Gateway (REST, Lambda proxy) emulator that runs the real authorizer and the
real handlers in-process.

Per request, in API Gateway's order: payload limit (413 over 10 MB), the request's
content coding (API Gateway decodes gzip and deflate before anything else, 415 for
another coding or a body that is not what it claims; mlaudit.api_gateway), route
match (404 unknown path, 405 wrong method), the REQUEST authorizer
(`mlaudit.handlers.authorizer.handler`: an exception "Unauthorized" is 401, a policy
that does not allow the method ARN is 403), then the route's handler with a REST proxy
event whose `requestContext.authorizer` is the authorizer's context. Invoking a
function (the authorizer or a route's) needs its Lambda permission for API Gateway
(`may_invoke`; a refusal is API Gateway's 500). The body reaches the function as text,
under the API's configuration (no binary media types). Errors use the mlaudit JSON
shape (the CDK app gives API Gateway's gateway responses the same bodies, from
`mlaudit.auth`).
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
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mlaudit import auth
from mlaudit.api_gateway import BINARY_MEDIA_TYPES, REQUEST_CODINGS
from mlaudit.functions import LAMBDA_PAYLOAD_LIMIT_BYTES, spec
from mlaudit.routes import API_PAYLOAD_LIMIT_BYTES, AUTHORIZER_CACHE_SECONDS, ROUTES, Route, match, path_exists

from local.runtime import LambdaContext

logger = logging.getLogger(__name__)


Handler = Callable[[dict[str, Any], Any], Any]
LOCAL_AUTHORIZER_ID = "local-authorizer"  # the authorizer's id in the execute-api ARNs Lambda permissions name


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
    # May API Gateway invoke this function for this source ARN (its Lambda permission)? None: yes.
    may_invoke: Callable[[str, str], bool] | None = None

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
        if len(body) > API_PAYLOAD_LIMIT_BYTES:
            return _error(413, "payload_too_large", "Request body is too large.")
        decoded = _decode_content(headers, body)  # before the API and stage are identified, as API Gateway
        if isinstance(decoded, Response):
            return decoded
        body = decoded
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
            if not self._may_invoke("authorizer", f"{self._execute_api}/authorizers/{LOCAL_AUTHORIZER_ID}"):
                return _error(500, "internal_error", "Internal server error.")  # AuthorizerConfigurationException
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
        text, is_base64 = _body(body, headers.get("Content-Type") or _header(headers, "content-type"))
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

    @property
    def _execute_api(self) -> str:
        return f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}"

    def _may_invoke(self, function: str, source_arn: str) -> bool:
        return self.may_invoke is None or self.may_invoke(function, source_arn)

    def _invoke(self, route: Route, event: dict[str, Any]) -> Response:
        if not self._may_invoke(route.function, f"{self.arn_prefix}/{route.method}{event['path']}"):
            # "Execution failed due to configuration error: Invalid permissions on Lambda function"
            return _error(500, "internal_error", "Internal server error.")
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
            # A base64 body is decoded only for a binary media type the client accepts; none is
            # configured, so API Gateway sends it as the text it is.
            binary = result.get("isBase64Encoded") and _is_binary(_header(event.get("headers") or {}, "accept"))
            raw = base64.b64decode(body) if binary else body.encode("utf-8")
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


def _body(raw: bytes, content_type: str | None) -> tuple[str | None, bool]:
    """A body whose Content-Type is one of the API's binary media types passes base64;
    any other is text (UTF-8; bytes that are not UTF-8 become U+FFFD)."""
    if not raw:
        return None, False
    if _is_binary(content_type):
        return base64.b64encode(raw).decode("ascii"), True
    return raw.decode("utf-8", errors="replace"), False


def _is_binary(media_type: str | None) -> bool:
    base = (media_type or "").split(",", 1)[0].split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(base, pattern.lower()) for pattern in BINARY_MEDIA_TYPES) if base else False


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _decode_content(headers: list[tuple[str, str]], body: bytes) -> bytes | Response:
    """What API Gateway does with a request's Content-Encoding: decode each coding it supports
    (last applied, first undone), 415 for any other or for a body not encoded as claimed.
    The header itself reaches the function unchanged. The decoded body must still fit a
    Lambda invocation."""
    value = next((v for k, v in reversed(headers) if k.lower() == "content-encoding"), None)
    if value is None:
        return body
    codings = [c.strip().lower() for c in value.split(",") if c.strip()]
    if any(c not in REQUEST_CODINGS for c in codings):
        return _error(415, "unsupported_media_type", "Unsupported Media Type")
    for coding in reversed(codings):
        if coding == "identity":
            continue
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS)
        try:
            body_out = inflater.decompress(body, LAMBDA_PAYLOAD_LIMIT_BYTES + 1)
        except zlib.error:
            return _error(415, "unsupported_media_type", "Unsupported Media Type")
        if len(body_out) > LAMBDA_PAYLOAD_LIMIT_BYTES:
            return _error(413, "payload_too_large", "Request body is too large.")
        if not inflater.eof or inflater.unused_data:
            return _error(415, "unsupported_media_type", "Unsupported Media Type")
        body = body_out
    return body


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
