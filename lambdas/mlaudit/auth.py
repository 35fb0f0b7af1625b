"""Who is calling, and may they call this route: Cognito JWT verification and the
permission check, shared by the Lambda authorizer on AWS and the local emulator.

A token is trusted only after a real RS256 signature check against the user pool's
JWKS, then issuer, expiry, token use and client checks. Two kinds of principal come
out of it:

- a workload: an access token from the client-credentials grant (``sub`` is the
  app client id and there is no ``username``); it acts through OAuth scopes;
- a person: an access or ID token from a user sign-in; they act through Cognito
  groups (``cognito:groups``) that name one of `routes.ROLES`.

Errors carry no detail about the token (an attacker learns nothing from them); the
reason is kept on the exception for the operator's log.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from mlaudit.errors import Unauthenticated
from mlaudit.principal import Principal
from mlaudit.routes import RESOURCE_SERVER, ROLES, ROUTES, Route

ALGORITHM = "RS256"  # Cognito signs with RS256 only; anything else is refused outright
MAX_TOKEN_CHARS = 8192  # Cognito tokens are ~1-2 KB; refuse to parse anything huge
DEFAULT_LEEWAY_SECONDS = 30
JWKS_TTL_SECONDS = 3600
JWKS_MIN_REFETCH_SECONDS = 30  # unknown kids must not turn into a flood of JWKS requests
JWKS_FETCH_TIMEOUT_SECONDS = 3
SCOPE_PREFIX = f"{RESOURCE_SERVER}/"

# What a caller sees for 401 and 403, on AWS (API Gateway gateway responses) and
# locally (the emulator): the mlaudit error shape, with nothing about the token.
UNAUTHORIZED_BODY = {"error": "unauthorized", "message": "Missing or invalid credentials."}
FORBIDDEN_BODY = {"error": "forbidden", "message": "Not allowed to call this route."}


class TokenRefused(Unauthenticated):
    """A missing, malformed, expired or forged token: the 401 any unauthenticated call gets."""

    def __init__(self, reason: str = "invalid token") -> None:
        super().__init__(UNAUTHORIZED_BODY["error"], UNAUTHORIZED_BODY["message"])
        self.reason = reason  # for logs only: never sent to the caller


JwksFetcher = Callable[[], dict[str, Any]]


def http_jwks_fetcher(url: str, timeout: float = JWKS_FETCH_TIMEOUT_SECONDS) -> JwksFetcher:
    def fetch() -> dict[str, Any]:
        if not url.startswith(("https://", "http://")):
            raise ValueError("JWKS URL must be http(s)")
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - scheme checked
            return json.loads(response.read(1_000_000))

    return fetch


class JwksCache:
    """The pool's signing keys by kid, kept for a TTL and refetched (at most once per
    `min_refetch` seconds) when a token names a kid we do not know (key rotation)."""

    def __init__(
        self, fetch: JwksFetcher, *, ttl: float = JWKS_TTL_SECONDS,
        min_refetch: float = JWKS_MIN_REFETCH_SECONDS, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._min_refetch = min_refetch
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> Any:
        with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
            unknown = kid not in self._keys
            may_refetch = self._fetched_at is None or now - self._fetched_at >= self._min_refetch
            if stale or (unknown and may_refetch):
                self._refresh(now)
            found = self._keys.get(kid)
        if found is None:
            raise TokenRefused("unknown signing key")
        return found

    def _refresh(self, now: float) -> None:
        try:
            document = self._fetch()
        except Exception as exc:  # network, JSON: keep the old keys, fail closed if none
            if not self._keys:
                raise TokenRefused("signing keys unavailable") from exc
            # Retry after `min_refetch`, not on every request while the endpoint is down.
            self._fetched_at = now - self._ttl + self._min_refetch
            return
        keys: dict[str, Any] = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not entry.get("kid"):
                continue
            if entry.get("alg", ALGORITHM) != ALGORITHM or entry.get("use", "sig") != "sig":
                continue
            try:
                keys[entry["kid"]] = jwt.PyJWK(entry, algorithm=ALGORITHM).key
            except jwt.PyJWTError:
                continue
        self._keys = keys
        self._fetched_at = now


@dataclass(frozen=True)
class TokenVerifier:
    issuer: str
    allowed_client_ids: frozenset[str]
    jwks: JwksCache
    leeway: float = DEFAULT_LEEWAY_SECONDS

    def verify(self, token: str) -> Principal:
        """The principal behind a Cognito access or ID token, or TokenRefused."""
        return self.verify_until(token)[0]

    def verify_until(self, token: str) -> tuple[Principal, int]:
        """The principal and the last second (epoch) the token is accepted: its `exp` plus
        the clock leeway this verifier allows. Whatever caches the answer must not use it
        past that second (the authorizer passes it on; `principal_from_event` enforces it)."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise TokenRefused("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("malformed token") from None
        # Pin the algorithm before looking at the key: refuses "none" and HS256 tricks.
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise TokenRefused("unexpected token header")
        key = self.jwks.key(header["kid"])
        try:
            claims = jwt.decode(
                token, key, algorithms=[ALGORITHM], issuer=self.issuer, leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "sub", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("expired token") from None
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"rejected token: {type(exc).__name__}") from None
        if type(claims["exp"]) is not int:
            raise TokenRefused("malformed exp claim")
        return self._principal(claims), claims["exp"] + int(self.leeway)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        sub = _text(claims.get("sub"))
        use = claims.get("token_use")
        if use == "access":
            client_id = _text(claims.get("client_id"))
        elif use == "id":
            client_id = _text(claims.get("aud"))
        else:
            raise TokenRefused("unexpected token use")
        if not sub or not client_id:
            raise TokenRefused("missing subject or client")
        if client_id not in self.allowed_client_ids:
            raise TokenRefused("client not allowed")

        if use == "access" and sub == client_id and "username" not in claims:
            return Principal(
                kind="workload", actor_id=client_id, client_id=client_id,
                scopes=_scopes(claims.get("scope")),
            )
        return Principal(
            kind="person", actor_id=sub, client_id=client_id, roles=_roles(claims.get("cognito:groups")),
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _scopes(claim: Any) -> tuple[str, ...]:
    """Our resource server's scopes, prefix stripped; other scopes (openid, ...) ignored."""
    if claim is None:
        return ()
    if not isinstance(claim, str):
        raise TokenRefused("malformed scope claim")
    return tuple(
        sorted({s[len(SCOPE_PREFIX):] for s in claim.split() if s.startswith(SCOPE_PREFIX)})
    )


def _roles(claim: Any) -> tuple[str, ...]:
    """Groups that are mlaudit roles; other groups in the pool confer nothing here."""
    if claim is None:
        return ()
    if not isinstance(claim, list) or not all(isinstance(g, str) for g in claim):
        raise TokenRefused("malformed groups claim")
    return tuple(sorted(set(claim) & set(ROLES)))


def may_call(principal: Principal, route: Route) -> bool:
    """The permission matrix: workloads by scope, people by role; an empty set on the
    route shuts that kind of principal out entirely."""
    if principal.kind == "workload":
        return bool(route.scopes) and not route.scopes.isdisjoint(principal.scopes)
    if principal.kind == "person":
        return bool(route.roles) and not route.roles.isdisjoint(principal.roles)
    return False


def allowed_routes(principal: Principal, routes: Iterable[Route] = ROUTES) -> list[Route]:
    return [route for route in routes if may_call(principal, route)]
