"""IAM policy evaluation within one account, as AWS documents it, over policy documents
as JSON (statements whose values are already plain strings).

A request is a principal (a function's role, or an AWS service acting in the stack), an
action, a resource and the request's condition keys. `decide` evaluates it against the
principal's identity policy and the resource's policy:

- an explicit Deny in either wins;
- an AWS service has no identity policy: the resource policy must Allow it;
- a role is allowed by its identity policy or by a resource policy naming it (or "*");
- a KMS key is the exception: its key policy must allow the caller, directly, or through
  the statement that gives the account (root) the key, and then the identity policy must
  allow it too. A statement naming the account root grants nothing on its own elsewhere.

The local stack evaluates every call a function makes and every delivery an AWS service
makes in the stack this way (local/iam.py), and the infrastructure tests evaluate the
synthesized template's policies with the same code (tests/infra/test_resource_policies.py).
Only the condition operators below are modeled; any other one raises, so a policy that
uses a new one cannot pass unevaluated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ContextValue = str | bool | tuple[str, ...]


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a role (`arn` of the role) or an AWS service (`service`)."""

    arn: str = ""
    service: str = ""
    name: str = ""  # how messages name it: the function, or the service

    @classmethod
    def role(cls, arn: str, name: str = "") -> Principal:
        return cls(arn=arn, name=name or arn)

    @classmethod
    def of_service(cls, service: str) -> Principal:
        return cls(service=service, name=service)

    @property
    def account(self) -> str:
        return self.arn.split(":")[4] if self.arn.count(":") >= 5 else ""


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str
    resource: str
    context: tuple[tuple[str, ContextValue], ...] = ()

    @classmethod
    def make(cls, principal: Principal, action: str, resource: str,
             context: Mapping[str, ContextValue] | None = None) -> Request:
        return cls(principal, action, resource, tuple(sorted((context or {}).items())))

    def keys(self) -> dict[str, ContextValue]:
        # Condition key names are case-insensitive.
        return {name.lower(): value for name, value in self.context}


@dataclass(frozen=True)
class Statement:
    """One statement of a policy document. `principal` is None in an identity policy."""

    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    principal: Any = None
    condition: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sid: str = ""

    @classmethod
    def from_json(cls, statement: Mapping[str, Any]) -> Statement:
        for unsupported in ("NotAction", "NotResource", "NotPrincipal"):
            if unsupported in statement:
                raise NotImplementedError(f"{unsupported} is not modeled (statement {statement.get('Sid', '')})")
        return cls(
            effect=statement["Effect"],
            actions=tuple(_as_list(statement["Action"])),
            resources=tuple(_as_list(statement.get("Resource", "*"))),
            principal=statement.get("Principal"),
            condition=statement.get("Condition", {}),
            sid=statement.get("Sid", ""),
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"Effect": self.effect, "Action": list(self.actions),
                                "Resource": list(self.resources)}
        if self.sid:
            body["Sid"] = self.sid
        if self.principal is not None:
            body["Principal"] = self.principal
        if self.condition:
            body["Condition"] = {op: dict(block) for op, block in self.condition.items()}
        return body

    def matches(self, request: Request, *, key_policy: bool = False) -> bool:
        """Action, resource and condition match (the principal is checked apart). In a key
        policy, "Resource": "*" means the key itself."""
        if not any(_wildcard(pattern, ignore_case=True).fullmatch(request.action) for pattern in self.actions):
            return False
        resources = ("*",) if key_policy else self.resources
        if not any(_wildcard(pattern).fullmatch(request.resource) for pattern in resources):
            return False
        return conditions_hold(self.condition, request.keys())

    def names(self, principal: Principal) -> bool:
        """Does this statement's Principal name the caller itself (not just its account)?"""
        for kind, values in _principals(self.principal):
            if kind == "*":
                return True
            if kind == "Service" and principal.service and principal.service in values:
                return True
            if kind == "AWS" and principal.arn and principal.arn in values:
                return True
        return False

    def names_account_of(self, principal: Principal) -> bool:
        """Does it name the caller's account (arn:aws:iam::ACCOUNT:root, or the bare id)?"""
        account = principal.account
        if not account:
            return False
        return any(kind == "AWS" and (f"arn:aws:iam::{account}:root" in values or account in values)
                   for kind, values in _principals(self.principal))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    request: Request
    reason: str = ""  # why it was denied, in AWS's words
    statement: str = ""  # the Sid that decided it, when one did

    @property
    def message(self) -> str:
        r = self.request
        who = r.principal.name
        return f"{who} is not authorized to perform: {r.action} on resource: {r.resource} {self.reason}".rstrip()


def decide(request: Request, identity: Sequence[Statement], resource_policy: Sequence[Statement] | None, *,
           key_policy: bool = False) -> Decision:
    """Evaluate one request. `resource_policy` None: the resource has no policy (a table, a
    workgroup); for a KMS key a missing key policy allows no one."""
    policy = list(resource_policy or ())
    principal = request.principal
    for statement in identity:
        if statement.effect == "Deny" and statement.matches(request):
            return Decision(False, request, "with an explicit deny in an identity-based policy", statement.sid)
    for statement in policy:
        if (statement.effect == "Deny" and statement.names(principal)
                and statement.matches(request, key_policy=key_policy)):
            return Decision(False, request, "with an explicit deny in a resource-based policy", statement.sid)

    named = next((s for s in policy if s.effect == "Allow" and s.names(principal)
                  and s.matches(request, key_policy=key_policy)), None)
    if principal.service:
        if named:
            return Decision(True, request, statement=named.sid)
        return Decision(False, request, "because no resource-based policy allows it", "")
    identity_allows = any(s.effect == "Allow" and s.matches(request) for s in identity)
    if key_policy:
        if named:
            return Decision(True, request, statement=named.sid)
        delegated = next((s for s in policy if s.effect == "Allow" and s.names_account_of(principal)
                          and s.matches(request, key_policy=True)), None)
        if delegated is None:
            return Decision(False, request, "because the key policy allows neither it nor its account")
        if not identity_allows:
            return Decision(False, request, "because no identity-based policy allows it")
        return Decision(True, request, statement=delegated.sid)
    if identity_allows or named:
        return Decision(True, request, statement=named.sid if named and not identity_allows else "")
    return Decision(False, request, "because no identity-based policy allows it")


def identity_statements(documents: Iterable[Mapping[str, Any]]) -> list[Statement]:
    return [Statement.from_json(s) for document in documents for s in _as_list(document.get("Statement", []))]


# --- conditions ----------------------------------------------------------------------

_STRING = {"StringEquals": (False, False, False), "StringNotEquals": (True, False, False),
           "StringEqualsIgnoreCase": (False, False, True), "StringNotEqualsIgnoreCase": (True, False, True),
           "StringLike": (False, True, False), "StringNotLike": (True, True, False),
           "ArnEquals": (False, False, False), "ArnNotEquals": (True, False, False),
           "ArnLike": (False, True, False), "ArnNotLike": (True, True, False)}


def conditions_hold(condition: Mapping[str, Mapping[str, Any]], keys: Mapping[str, ContextValue]) -> bool:
    """Every operator block, every key in it (AND); any of a key's values (OR)."""
    return all(_holds(operator, name.lower(), _as_list(expected), keys)
               for operator, block in condition.items() for name, expected in block.items())


def _holds(operator: str, name: str, expected: list[Any], keys: Mapping[str, ContextValue]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    present = name in keys
    if base == "Null":  # "true": the key is absent from the request
        return any((str(value).lower() == "true") == (not present) for value in expected)
    if not present:
        # A missing key: true only for IfExists and the negated operators.
        return if_exists or (base in _STRING and _STRING[base][0])
    actual = keys[name]
    values = list(actual) if isinstance(actual, tuple) else [actual]
    if base == "Bool":
        return any(str(v).lower() == str(e).lower() for v in values for e in expected)
    if base not in _STRING:
        raise NotImplementedError(f"condition operator {operator} is not modeled (local/policy.py)")
    negated, like, ignore_case = _STRING[base]
    match = any(_string_match(str(v), str(e), like=like, ignore_case=ignore_case) for v in values for e in expected)
    return not match if negated else match


def _string_match(value: str, expected: str, *, like: bool, ignore_case: bool) -> bool:
    if like:
        return bool(_wildcard(expected, ignore_case=ignore_case).fullmatch(value))
    return value.lower() == expected.lower() if ignore_case else value == expected


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM wildcards: * any run of characters, ? one character; nothing else is special."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _principals(principal: Any) -> list[tuple[str, list[str]]]:
    if principal is None:
        return []
    if principal == "*":
        return [("*", [])]
    found = []
    for kind, values in principal.items():
        listed = [str(v) for v in _as_list(values)]
        if kind == "AWS" and "*" in listed:
            found.append(("*", []))
        found.append((kind, listed))
    return found


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
