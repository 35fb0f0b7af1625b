"""Every resource-based policy of the stack, declared once: bucket, queue, topic and key
policies, and the Lambda permissions that let API Gateway and EventBridge invoke the
functions. Each statement says who (an AWS service, or anyone) may or may not do what,
on which resource, on what condition, and why.

From this one declaration:

- the CDK app adds the statements written by "mlaudit" to their resources
  (stacks/policies.py); the others are written by CDK constructs (TLS-only denies from
  `enforce_ssl`, access-log delivery from `server_access_logs_bucket`, a key's account
  statement, Lambda permissions from API methods and EventBridge targets, the EventBridge
  dead-letter queue's statement) and are declared here all the same;
- tests/infra/test_resource_policies.py holds the synthesized template to this list,
  statement by statement and both ways, and evaluates every path an AWS service takes in
  the stack against the template's policies;
- the local stack renders the same statements on its own ARNs and evaluates every call a
  function makes, and every delivery an AWS service makes, against them (local/iam.py,
  local/policy.py): a statement missing here fails there as it would on AWS.

Values are symbols a renderer turns into strings (or CDK tokens): `Ref` (a declared
resource's ARN or another attribute), `Function` (the ARN a function's invokers name:
ingest's "live" alias), `PARTITION`, `REGION`, `ACCOUNT`, and `Join` of those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlaudit.bucket_policy import WITNESS_PREFIXES, WRITE_ONCE_PREFIXES
from mlaudit.bucket_policy import statements as write_once_statements
from mlaudit.resources import Kind, Resource
from mlaudit.routes import ROUTES, Route

# --- values ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pseudo:
    name: str  # partition | region | account


PARTITION, REGION, ACCOUNT = Pseudo("partition"), Pseudo("region"), Pseudo("account")


@dataclass(frozen=True)
class Ref:
    """An attribute of a declared resource (its ARN by default), then `suffix`."""

    resource: Resource
    attribute: str = "arn"
    suffix: str = ""


@dataclass(frozen=True)
class Function:
    """The ARN a function's invokers name (ingest: its "live" alias)."""

    name: str


@dataclass(frozen=True)
class Join:
    parts: tuple[Any, ...]


Value = str | Pseudo | Ref | Function | Join


class Renderer(Protocol):
    """Turns symbols into what one target needs: CDK tokens, local strings."""

    def pseudo(self, name: str) -> str: ...

    def attribute(self, resource: Resource, attribute: str) -> str: ...

    def function_arn(self, name: str) -> str: ...


def render_value(value: Any, renderer: Renderer) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, Pseudo):
        return renderer.pseudo(value.name)
    if isinstance(value, Ref):
        return renderer.attribute(value.resource, value.attribute) + value.suffix
    if isinstance(value, Function):
        return renderer.function_arn(value.name)
    if isinstance(value, Join):
        return "".join(render_value(part, renderer) for part in value.parts)
    if isinstance(value, list | tuple):
        return [render_value(v, renderer) for v in value]
    raise TypeError(f"not a policy value: {value!r}")


# --- statements --------------------------------------------------------------------------

ANYONE = "*"
ANY_AWS = {"AWS": "*"}


def service(name: Value) -> dict[str, Value]:
    return {"Service": name}


ACCOUNT_ROOT = {"AWS": Join(("arn:", PARTITION, ":iam::", ACCOUNT, ":root"))}


@dataclass(frozen=True)
class Statement:
    effect: str  # Allow | Deny
    principal: Any  # ANYONE, ANY_AWS, service(...), ACCOUNT_ROOT
    actions: tuple[str, ...]
    resources: tuple[Value, ...]
    why: str
    sid: str = ""
    condition: dict[str, dict[str, Any]] = field(default_factory=dict)
    # "mlaudit": stacks/policies.py adds it; otherwise the CDK construct that writes it.
    written_by: str = "mlaudit"

    def render(self, renderer: Renderer) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Effect": self.effect,
            "Principal": _render_principal(self.principal, renderer),
            "Action": list(self.actions),
            "Resource": [render_value(r, renderer) for r in self.resources],
        }
        if self.sid:
            body["Sid"] = self.sid
        if self.condition:
            body["Condition"] = {op: {k: render_value(v, renderer) for k, v in block.items()}
                                 for op, block in self.condition.items()}
        return body


def _render_principal(principal: Any, renderer: Renderer) -> Any:
    if principal == ANYONE:
        return ANYONE
    return {kind: render_value(value, renderer) for kind, value in principal.items()}


@dataclass(frozen=True)
class Holder:
    """What a policy is attached to: a declared resource, or a function (Lambda permissions)."""

    resource: Resource | None = None
    function: str | None = None

    def __str__(self) -> str:
        return self.resource.name if self.resource else f"function {self.function}"


# --- the stack's statements ------------------------------------------------------------

TLS = {"Bool": {"aws:SecureTransport": "false"}}
SOURCE_ACCOUNT = {"aws:SourceAccount": ACCOUNT}


def _arn_pattern(service_name: str, resource: str) -> Join:
    return Join(("arn:", PARTITION, f":{service_name}:", REGION, ":", ACCOUNT, f":{resource}"))


ALARMS_OF_THIS_ACCOUNT = _arn_pattern("cloudwatch", "alarm:*")
RULES_OF_THIS_ACCOUNT = _arn_pattern("events", "rule/*")
BUCKETS = (Resource.AUDIT_BUCKET, Resource.WITNESS_BUCKET, Resource.RESULTS_BUCKET, Resource.LANDING_BUCKET,
           Resource.ACCESS_LOGS_BUCKET)
QUEUES = (Resource.EVENTS_QUEUE, Resource.DEAD_LETTER_QUEUE, Resource.IMPORTS_DEAD_LETTER_QUEUE)
TOPICS = (Resource.WITNESS_TOPIC, Resource.MONITORS_TOPIC, Resource.ALARM_TOPIC)
KEYS = (Resource.DATA_KEY, Resource.SIGNING_KEY, Resource.ENTRY_KEY, Resource.SEAL_KEY)
# Where each logged bucket's S3 server access logs go in the access-log bucket (stacks/).
ACCESS_LOG_PREFIXES = {Resource.AUDIT_BUCKET: "audit-bucket/", Resource.WITNESS_BUCKET: "witness-bucket/",
                       Resource.RESULTS_BUCKET: "query-results/", Resource.LANDING_BUCKET: "landing/"}
# The topics CloudWatch alarms publish to (stacks/monitoring.py, stacks/monitors.py).
ALARM_TOPICS = (Resource.ALARM_TOPIC, Resource.MONITORS_TOPIC)
# Which rule invokes which function (stacks/integrity.py, stacks/monitors.py, stacks/ingestion.py,
# stacks/imports.py).
RULE_TARGETS = {Resource.CHECKPOINT_SCHEDULE: "checkpoint", Resource.MONITORS_SCHEDULE: "monitors",
                Resource.RECOVERY_SCHEDULE: "writer",
                Resource.FILE_LANDED_RULE: "imports"}
# A rule whose failed deliveries go to a dead-letter queue.
RULE_DEAD_LETTERS = {Resource.FILE_LANDED_RULE: Resource.IMPORTS_DEAD_LETTER_QUEUE}


def _tls_only(resource: Resource) -> Statement:
    why = "no request without TLS (every AWS SDK and service uses TLS)"
    if resource.kind is Kind.BUCKET:
        return Statement("Deny", ANY_AWS, ("s3:*",), (Ref(resource), Ref(resource, suffix="/*")), why,
                         condition=TLS, written_by="cdk: enforce_ssl")
    if resource.kind is Kind.QUEUE:
        return Statement("Deny", ANY_AWS, ("sqs:*",), (Ref(resource),), why, condition=TLS,
                         written_by="cdk: enforce_ssl")
    return Statement("Deny", ANYONE, ("sns:Publish",), (Ref(resource),), why, sid="AllowPublishThroughSSLOnly",
                     condition=TLS, written_by="cdk: enforce_ssl")


def _write_once(bucket: Resource, prefixes: tuple[str, ...]) -> tuple[Statement, ...]:
    """mlaudit.bucket_policy's statements, as declared there (rendered on the bucket's ARN)."""
    marker = "arn:marker:bucket"
    found = []
    for body in write_once_statements(marker, prefixes):
        resources = tuple(Ref(bucket, suffix=r.removeprefix(marker)) for r in body["Resource"])
        found.append(Statement(body["Effect"], ANY_AWS, tuple(_listed(body["Action"])), resources,
                               "write-once (mlaudit.bucket_policy)", sid=body.get("Sid", ""),
                               condition=body.get("Condition", {})))
    return tuple(found)


def _access_logs() -> tuple[Statement, ...]:
    return tuple(
        Statement(
            "Allow", service("logging.s3.amazonaws.com"), ("s3:PutObject",),
            (Ref(Resource.ACCESS_LOGS_BUCKET, suffix=f"/{prefix}*"),),
            f"S3 delivers {bucket.name}'s server access logs",
            condition={"ArnLike": {"aws:SourceArn": Ref(bucket)}, "StringEquals": SOURCE_ACCOUNT},
            written_by="cdk: server_access_logs_bucket",
        )
        for bucket, prefix in ACCESS_LOG_PREFIXES.items()
    )


def _key_statements(key: Resource) -> tuple[Statement, ...]:
    account = Statement(
        "Allow", ACCOUNT_ROOT, ("kms:*",), ("*",),
        "the account administers the key; IAM policies grant its use (one grant per function)",
        written_by="cdk: kms.Key",
    )
    if key is not Resource.DATA_KEY:
        return (account,)
    return (
        account,
        Statement(
            "Allow", service(Join(("logs.", REGION, ".amazonaws.com"))),
            ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
             "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"),
            ("*",), "CloudWatch Logs encrypts the functions', the API's and WAF's log groups with it",
            sid="CloudWatchLogsInThisAccount",
            condition={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": _arn_pattern("logs", "log-group:*")}},
        ),
        Statement(
            "Allow", service("cloudwatch.amazonaws.com"), ("kms:Decrypt", "kms:GenerateDataKey"), ("*",),
            "an alarm publishes to an encrypted topic: SNS uses the key with the publisher's (CloudWatch's) "
            "permission", sid="CloudWatchAlarmsPublishToEncryptedTopic",
            condition={"StringEquals": SOURCE_ACCOUNT},
        ),
        Statement(
            "Allow", service("events.amazonaws.com"), ("kms:Decrypt", "kms:GenerateDataKey"), ("*",),
            "EventBridge sends an undeliverable event to an encrypted dead-letter queue (SQS uses the key with "
            "the sender's permission); a rule of this account only (naming the rule would be a cycle: the "
            "rule's target's role names this key)", sid="EventBridgeDeadLetters",
            condition={"ArnLike": {"aws:SourceArn": RULES_OF_THIS_ACCOUNT}, "StringEquals": SOURCE_ACCOUNT},
        ),
    )


def _alarms_publish(topic: Resource) -> Statement:
    return Statement(
        "Allow", service("cloudwatch.amazonaws.com"), ("sns:Publish",), (Ref(topic),),
        "CloudWatch alarms of this account notify here: a topic policy replaces SNS's default one, so without "
        "this no alarm is delivered", sid="CloudWatchAlarmsPublish",
        condition={"ArnLike": {"aws:SourceArn": ALARMS_OF_THIS_ACCOUNT}, "StringEquals": SOURCE_ACCOUNT},
    )


def _dead_letters(queue: Resource, rule: Resource) -> Statement:
    return Statement(
        "Allow", service("events.amazonaws.com"), ("sqs:SendMessage",), (Ref(queue),),
        f"EventBridge sends what {rule.name} could not deliver here",
        condition={"ArnEquals": {"aws:SourceArn": Ref(rule)}},
        written_by="cdk: the target's dead_letter_queue",
    )


def method_arn(route: Route) -> Join:
    """execute-api ARN of a route's method on the stage ({param} -> *), as Lambda permissions name it."""
    path = re.sub(r"\{[^}]+\}", "*", route.path)
    return Join(("arn:", PARTITION, ":execute-api:", REGION, ":", ACCOUNT, ":", Ref(Resource.REST_API, "id"), "/",
                 Ref(Resource.REST_API, "stage"), f"/{route.method}{path}"))


def _invoke(principal: str, function: str, source: Value, why: str, written_by: str) -> Statement:
    return Statement("Allow", service(principal), ("lambda:InvokeFunction",), (Function(function),), why,
                     condition={"ArnLike": {"aws:SourceArn": source}}, written_by=written_by)


def _function_permissions(routes: Iterable[Route]) -> dict[Holder, tuple[Statement, ...]]:
    found: dict[Holder, list[Statement]] = {}
    for route in routes:
        found.setdefault(Holder(function=route.function), []).append(_invoke(
            "apigateway.amazonaws.com", route.function, method_arn(route), f"API Gateway: {route.method} {route.path}",
            "cdk: LambdaIntegration"))
    authorizer = Join(("arn:", PARTITION, ":execute-api:", REGION, ":", ACCOUNT, ":", Ref(Resource.REST_API, "id"),
                       "/authorizers/", Ref(Resource.REST_API, "authorizer_id")))
    found.setdefault(Holder(function="authorizer"), []).append(_invoke(
        "apigateway.amazonaws.com", "authorizer", authorizer, "API Gateway asks the authorizer about every token",
        "cdk: RequestAuthorizer"))
    for rule, function in RULE_TARGETS.items():
        found.setdefault(Holder(function=function), []).append(_invoke(
            "events.amazonaws.com", function, Ref(rule), f"EventBridge: {rule.name}", "cdk: targets.LambdaFunction"))
    return {holder: tuple(statements) for holder, statements in found.items()}


def declared(routes: Iterable[Route] = ROUTES) -> dict[Holder, tuple[Statement, ...]]:
    """Holder -> its whole policy. A resource not here has no resource policy."""
    policies: dict[Holder, tuple[Statement, ...]] = {}
    for bucket in BUCKETS:
        policies[Holder(bucket)] = (_tls_only(bucket),)
    policies[Holder(Resource.AUDIT_BUCKET)] += _write_once(Resource.AUDIT_BUCKET, WRITE_ONCE_PREFIXES)
    policies[Holder(Resource.WITNESS_BUCKET)] += _write_once(Resource.WITNESS_BUCKET, WITNESS_PREFIXES)
    policies[Holder(Resource.ACCESS_LOGS_BUCKET)] += _access_logs()
    for queue in QUEUES:
        policies[Holder(queue)] = (_tls_only(queue),)
    for rule, queue in RULE_DEAD_LETTERS.items():
        policies[Holder(queue)] += (_dead_letters(queue, rule),)
    for topic in TOPICS:
        policies[Holder(topic)] = (_tls_only(topic),)
    for topic in ALARM_TOPICS:
        policies[Holder(topic)] += (_alarms_publish(topic),)
    for key in KEYS:
        policies[Holder(key)] = _key_statements(key)
    policies.update(_function_permissions(routes))
    return policies


def rendered(renderer: Renderer, routes: Iterable[Route] = ROUTES,
             keep: Callable[[Statement], bool] = lambda _: True) -> dict[Holder, list[dict[str, Any]]]:
    """Each holder's policy statements as JSON for one target (`keep` filters them)."""
    return {holder: [s.render(renderer) for s in statements if keep(s)]
            for holder, statements in declared(routes).items()}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]

