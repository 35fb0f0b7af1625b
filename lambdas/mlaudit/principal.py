"""Who is calling: built by the authorizer from a verified token, read by handlers
from API Gateway's request context. API Gateway only passes flat string values
through an authorizer's context, so lists travel as space-separated strings."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from mlaudit.errors import Unauthenticated

# The authorizer's context key: the last second (epoch) the verified token is accepted.
TOKEN_EXPIRES_AT = "token_expires_at"  # noqa: S105 - a key name, not a secret


@dataclass(frozen=True)
class Principal:
    kind: Literal["workload", "person"]
    actor_id: str  # token `sub`: the app client id for workloads, the user's sub for people
    client_id: str
    roles: tuple[str, ...] = ()  # Cognito groups (people)
    scopes: tuple[str, ...] = ()  # OAuth scopes without the resource-server prefix (workloads)

    @property
    def actor_type(self) -> str:
        return "service" if self.kind == "workload" else "user"

    def to_context(self) -> dict[str, str]:
        return {
            "principal_kind": self.kind,
            "actor_id": self.actor_id,
            "client_id": self.client_id,
            "roles": " ".join(self.roles),
            "scopes": " ".join(self.scopes),
        }

    @classmethod
    def from_context(cls, context: dict[str, Any]) -> Principal:
        return cls(
            kind=context["principal_kind"],
            actor_id=context["actor_id"],
            client_id=context["client_id"],
            roles=tuple((context.get("roles") or "").split()),
            scopes=tuple((context.get("scopes") or "").split()),
        )


def principal_from_event(event: dict[str, Any]) -> Principal:
    """The principal the authorizer put in the request context. API Gateway never
    invokes a handler without it; a missing one is a wiring fault, answered as 401."""
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    try:
        principal = Principal.from_context(context)
        expires_at = int(context[TOKEN_EXPIRES_AT]) if TOKEN_EXPIRES_AT in context else None
    except (KeyError, ValueError):
        raise Unauthenticated("unauthorized", "Missing or invalid credentials.") from None
    # API Gateway reuses an authorizer's answer per token for minutes: not past the token.
    if expires_at is not None and time.time() > expires_at:
        raise Unauthenticated("unauthorized", "Missing or invalid credentials.")
    return principal

