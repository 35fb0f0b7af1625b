"""Lambda's Invoke API for the local stack's functions (moto cannot invoke without Docker):
`POST /2015-03-31/functions/{FunctionName}/invocations`, so the same boto3 call that invokes a
deployed function (`mlaudit compact --stack`, `make smoke`'s steps) invokes the local one.

The function runs in this process as Lambda runs it: its handler, a context with its
timeout, and its own role's clients (local/iam.py), never the caller's. An exception is
answered as Lambda answers it: status 200, `X-Amz-Function-Error: Unhandled`, and the
error's type and message as the payload. Only synchronous invocations (RequestResponse).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from local.runtime import LambdaContext

logger = logging.getLogger(__name__)

_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit


class Invoker:
    def __init__(self, prefix: str, functions: Callable[[str], float | None], *, region: str, account_id: str,
                 load_handler: Callable[[str], Callable[[Any, Any], Any]]) -> None:
        """``functions(name)``: the declared function's timeout in seconds, None if there is none."""
        self.prefix = prefix
        self.functions = functions
        self.region = region
        self.account_id = account_id
        self.load_handler = load_handler

    def function(self, name_or_arn: str) -> str | None:
        """The declared function a FunctionName names (its name, or its ARN, maybe qualified)."""
        name = name_or_arn.split(":function:", 1)[-1].split(":", 1)[0]
        short = name.removeprefix(f"{self.prefix}-")
        return short if short != name and self.functions(short) is not None else None

    def invoke(self, name: str, payload: bytes) -> tuple[int, dict[str, str], bytes]:
        function = self.function(name)
        if function is None:
            return 404, {"X-Amzn-ErrorType": "ResourceNotFoundException"}, json.dumps(
                {"Type": "User", "message": f"Function not found: {name}"}).encode()
        try:
            event = json.loads(payload or b"{}")
        except ValueError:
            return 400, {"X-Amzn-ErrorType": "InvalidRequestContentException"}, json.dumps(
                {"Type": "User", "message": "Could not parse request body into json"}).encode()
        timeout = self.functions(function)
        context = LambdaContext(f"{self.prefix}-{function}", timeout or 3, region=self.region,
                                account_id=self.account_id)
        try:
            answer = self.load_handler(function)(event, context)
        except Exception as exc:  # what Lambda answers for an unhandled error (the caller sees it)
            logger.exception("function %s failed", function)
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(
                {"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        return 200, {"X-Amz-Executed-Version": "$LATEST"}, json.dumps(answer).encode()


def handler_class(invoker: Invoker) -> type[BaseHTTPRequestHandler]:
    class InvokeHandler(BaseHTTPRequestHandler):
        server_version = "mlaudit-local-lambda"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            found = _PATH.match(self.path.split("?", 1)[0])
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if 0 <= length <= MAX_PAYLOAD_BYTES else b""
            if found is None:
                self._reply(404, {"X-Amzn-ErrorType": "UnknownOperationException"}, b"{}")
            elif (self.headers.get("X-Amz-Invocation-Type") or "RequestResponse") != "RequestResponse":
                self._reply(400, {"X-Amzn-ErrorType": "InvalidParameterValueException"},
                            b'{"message": "the local stack invokes synchronously only (RequestResponse)"}')
            else:
                self._reply(*invoker.invoke(unquote(found["name"]), body))

        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return InvokeHandler
