"""API Gateway REQUEST authorizer: verify the bearer token, answer with an IAM policy.

The policy allows every route the principal may call, not just the one requested:
API Gateway caches the result per token (300 s) and reuses it for other methods,
so a policy for one method only would wrongly deny (or, built carelessly, allow)
the next call. A principal who may call nothing gets a Deny (API Gateway: 403).
A missing or bad token raises ``Exception("Unauthorized")``, the one signal API
Gateway turns into 401. The local emulator calls this same function.

That cache would also outlive the token: the context carries the token's expiry
(`token_expires_at`: its `exp` plus the verifier's leeway) and every handler refuses a
request past it with 401 (`principal_from_event`), so a cached authorization never
outlives its token.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from mlaudit import auth, bootstrap
from mlaudit.principal import TOKEN_EXPIRES_AT, Principal
from mlaudit.routes import Route

if TYPE_CHECKING:
    from mlaudit.bootstrap import FunctionApp


logger = logging.getLogger(__name__)

APP: FunctionApp[auth.TokenVerifier] = bootstrap.app("authorizer")

# arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/<resource path>
_METHOD_ARN = re.compile(r"^(arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+/[^/]+)/")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = bearer_token(event.get("headers") or {})
    if token is None:
        logger.info("authorizer: no bearer token")
        raise Exception("Unauthorized")  # noqa: TRY002 - the exact signal API Gateway expects
    try:
        principal, expires_at = APP.service().verify_until(token)
    except auth.TokenRefused as exc:
        logger.info("authorizer: token refused (%s)", exc.reason)
        raise Exception("Unauthorized") from None  # noqa: TRY002

    prefix = api_arn_prefix(event.get("methodArn", ""))
    routes = auth.allowed_routes(principal)
    if not routes:
        logger.info("authorizer: %s principal may call no route", principal.kind)
        return policy(principal, "Deny", [f"{prefix}/*/*"])
    answer = policy(principal, "Allow", [route_arn(prefix, route) for route in routes])
    answer["context"][TOKEN_EXPIRES_AT] = str(expires_at)
    return answer


def bearer_token(headers: dict[str, Any]) -> str | None:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def api_arn_prefix(method_arn: str) -> str:
    """``arn:...:<api id>/<stage>`` from the requested method's ARN."""
    found = _METHOD_ARN.match(method_arn)
    if not found:
        # API Gateway always sends one; without it we cannot scope a policy safely.
        raise Exception("Unauthorized")  # noqa: TRY002
    return found.group(1)


def route_arn(prefix: str, route: Route) -> str:
    # Path parameters become wildcards: /v1/subjects/{ref} -> /v1/subjects/*
    path = re.sub(r"\{[^}]+\}", "*", route.path)
    return f"{prefix}/{route.method}{path}"


def policy(principal: Principal, effect: str, resources: list[str]) -> dict[str, Any]:
    return {
        "principalId": principal.actor_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": sorted(resources)}
            ],
        },
        "context": principal.to_context(),
    }
