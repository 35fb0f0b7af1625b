"""The OAuth2 client-credentials token endpoint Cognito serves on AWS, which moto lacks.

Client secrets and allowed scopes are checked against moto's own app client
(describe_user_pool_client), and tokens are RS256-signed with the private key moto
signs its pool's tokens with (shipped in the moto package), under the kid moto's
JWKS publishes. So a workload token is verified exactly like a user's: a real
signature check against the pool's JWKS.

Answers follow RFC 6749 §5.2 and Cognito: 401 invalid_client for a wrong or missing
client authentication, 400 for a bad grant, scope or request.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote

import jwt
from mlaudit.routes import ACCESS_TOKEN_SECONDS
from moto.utilities.utils import load_resource

logger = logging.getLogger(__name__)

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path, not a secret
MAX_FORM_BYTES = 16 * 1024


class OAuthError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def moto_signing_key() -> tuple[Any, str]:
    """The private key and kid moto signs Cognito tokens with (one for every pool)."""
    jwk = load_resource("cognitoidp/resources/jwks-private.json")
    return jwt.PyJWK(jwk, algorithm="RS256").key, jwk["kid"]


@dataclass
class TokenIssuer:
    cognito: Any  # boto3 cognito-idp client pointed at moto
    user_pool_id: str
    issuer: str
    lifetime_seconds: int = ACCESS_TOKEN_SECONDS

    def __post_init__(self) -> None:
        self._key, self._kid = moto_signing_key()

    def issue(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        client_id, secret = _client_credentials(form, authorization)
        client = self._client(client_id)
        if not client.get("ClientSecret") or not hmac.compare_digest(
            client["ClientSecret"].encode(), secret.encode()
        ):
            raise OAuthError(401, "invalid_client")
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type")
        if "client_credentials" not in client.get("AllowedOAuthFlows", []):
            raise OAuthError(400, "unauthorized_client")
        allowed = client.get("AllowedOAuthScopes", [])
        requested = form.get("scope", "").split() or allowed  # no scope: all the client may have
        if not requested or any(scope not in allowed for scope in requested):
            raise OAuthError(400, "invalid_scope")
        lifetime = _validity_seconds(client, self.lifetime_seconds)
        return {
            "access_token": self._sign(client_id, requested, lifetime),
            "expires_in": lifetime,
            "token_type": "Bearer",
        }

    def _client(self, client_id: str) -> dict[str, Any]:
        try:
            return self.cognito.describe_user_pool_client(
                UserPoolId=self.user_pool_id, ClientId=client_id
            )["UserPoolClient"]
        except self.cognito.exceptions.ResourceNotFoundException:
            raise OAuthError(401, "invalid_client") from None

    def _sign(self, client_id: str, scopes: list[str], lifetime: int) -> str:
        # The claims Cognito puts in a client-credentials access token.
        now = int(time.time())
        claims = {
            "sub": client_id,
            "token_use": "access",
            "scope": " ".join(scopes),
            "auth_time": now,
            "iss": self.issuer,
            "exp": now + lifetime,
            "iat": now,
            "version": 2,
            "jti": str(uuid.uuid4()),
            "client_id": client_id,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})


def _validity_seconds(client: dict[str, Any], default: int) -> int:
    """The client's access token lifetime as Cognito reads it (AccessTokenValidity in its unit)."""
    validity = client.get("AccessTokenValidity")
    if not validity:
        return default
    unit = (client.get("TokenValidityUnits") or {}).get("AccessToken", "hours")
    return int(validity) * {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86_400}[unit]


def _client_credentials(form: dict[str, str], authorization: str | None) -> tuple[str, str]:
    """HTTP Basic (the way Cognito documents) or client_id/client_secret in the form."""
    if authorization:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError(401, "invalid_client")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client") from None
        client_id, sep, secret = decoded.partition(":")
        # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
        client_id, secret = unquote(client_id), unquote(secret)
    else:
        client_id, secret, sep = form.get("client_id", ""), form.get("client_secret", ""), ":"
    if not sep or not client_id or not secret:
        raise OAuthError(401, "invalid_client")
    return client_id, secret


def handler_class(issuer: TokenIssuer) -> type[BaseHTTPRequestHandler]:
    class TokenHandler(BaseHTTPRequestHandler):
        server_version = "mlaudit-local-oauth"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            try:
                if self.path.split("?", 1)[0] != TOKEN_PATH:
                    raise OAuthError(404, "not_found")
                content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if content_type != "application/x-www-form-urlencoded":
                    raise OAuthError(400, "invalid_request")
                length = int(self.headers.get("Content-Length") or 0)
                if length < 0 or length > MAX_FORM_BYTES:
                    raise OAuthError(400, "invalid_request")
                form = _form(self.rfile.read(length))
                self._reply(200, issuer.issue(form, self.headers.get("Authorization")))
            except OAuthError as exc:
                headers = {"WWW-Authenticate": 'Basic realm="mlaudit"'} if exc.status == 401 else {}
                self._reply(exc.status, {"error": exc.error}, headers)
            except ValueError:
                self._reply(400, {"error": "invalid_request"})
            except Exception:
                logger.exception("token endpoint failed")
                self._reply(500, {"error": "server_error"})

        def do_GET(self) -> None:  # noqa: N802
            self._reply(405, {"error": "invalid_request"}, {"Allow": "POST"})

        def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")  # RFC 6749 §5.1
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            logger.debug("oauth %s", format % args)

    return TokenHandler


def _form(raw: bytes) -> dict[str, str]:
    parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    if any(len(values) > 1 for values in parsed.values()):
        raise OAuthError(400, "invalid_request")  # RFC 6749 §3.2: no repeated parameters
    return {key: values[0] for key, values in parsed.items()}
