"""IAM, enforced on the laptop: every AWS call a function makes, and every delivery an AWS
service makes in the stack, is evaluated as AWS evaluates it (local/policy.py).

- A function's identity policy is its declaration's grants (`mlaudit.functions`), the
  same grants the CDK app renders into its role (tests/infra/test_declared_roles.py).
- Resource policies are `mlaudit.resource_policies` rendered on the local ARNs, the same
  declaration the CDK app renders (tests/infra/test_resource_policies.py): bucket,
  queue, topic and key policies, and Lambda permissions. An explicit Deny anywhere wins;
  a KMS key's policy must let the caller (or its account) use it.
- Each call becomes the (action, resource) pairs AWS authorizes, with the request's
  condition keys: versioned object actions (a GET with a VersionId is
  s3:GetObjectVersion), the KMS calls SSE-KMS buckets, encrypted queues, topics and tables
  make with the caller's permissions, the write-once bucket's If-None-Match.
- AWS services (CloudWatch alarms publishing to SNS, EventBridge invoking a function or
  sending to its dead-letter queue, API Gateway invoking a route's function) are checked
  by `ServicePrincipals` against the resource policies alone, where the local stack plays
  their part.

Why not moto's own IAM mode: moto checks resources for S3 only and evaluates every other
service's call against the resource "*", so a role scoped to one table or one queue is
refused everything; it knows nothing of the KMS permissions encryption asks of the
caller, and nothing of service principals. A refused call fails as AWS fails it:
AccessDenied, naming the function, the action and the resource. Each check is recorded,
so a test can show that every declared action is needed by some call
(tests/integration/test_iam_enforced.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from botocore.exceptions import ClientError
from mlaudit.bucket_policy import OBJECT_CREATION_OPERATIONS, WITNESS_PREFIXES, WRITE_ONCE_PREFIXES
from mlaudit.bucket_policy import statements as write_once_statements
from mlaudit.functions import FunctionSpec, ServiceRole

from local import policy

logger = logging.getLogger(__name__)

# The S3 actions whose object data KMS encrypts or decrypts for the caller.
_S3_WRITES = {"PutObject", "CreateMultipartUpload", "UploadPart", "CopyObject"}
_S3_READS = {"GetObject", "CompleteMultipartUpload", "CopyObject"}
# S3 operations authorized under another action's name.
_S3_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "HeadBucket": "s3:ListBucket",
    "DeleteObjects": "s3:DeleteObject",
}
# With a VersionId, S3 authorizes these operations as the version's action.
_S3_VERSIONED = {
    "GetObject": "s3:GetObjectVersion",
    "HeadObject": "s3:GetObjectVersion",
    "GetObjectAttributes": "s3:GetObjectVersionAttributes",
    "GetObjectAcl": "s3:GetObjectVersionAcl",
    "PutObjectAcl": "s3:PutObjectVersionAcl",
    "GetObjectTagging": "s3:GetObjectVersionTagging",
    "PutObjectTagging": "s3:PutObjectVersionTagging",
    "DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
    "DeleteObject": "s3:DeleteObjectVersion",
}
_SQS_ACTIONS = {
    "SendMessageBatch": "sqs:SendMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
_TRANSACT_ITEM_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                          "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


@dataclass(frozen=True)
class Need:
    """One (action, resource) pair AWS authorizes for a call."""

    action: str
    resource: str


class AccessDenied(ClientError):
    def __init__(self, function: str, need: Need, operation: str, denied_by: str = "", reason: str = "") -> None:
        if not reason:
            reason = (f"with an explicit deny in the bucket policy ({denied_by})" if denied_by
                      else "(no grant in its declaration allows it)")
        message = (f"local IAM: function {function} is not authorized to perform: {need.action} "
                   f"on resource: {need.resource} {reason}")
        super().__init__({"Error": {"Code": "AccessDenied", "Message": message}}, operation)
        self.function = function
        self.need = need


@dataclass(frozen=True)
class Statement:
    """An Allow of a function's identity policy: these actions on these resources."""

    actions: frozenset[str]
    resources: tuple[str, ...]

    def allows(self, need: Need) -> bool:
        return self.to_policy().matches(policy.Request.make(policy.Principal(), need.action, need.resource))

    def to_policy(self) -> policy.Statement:
        return policy.Statement("Allow", tuple(sorted(self.actions)), self.resources)


@dataclass
class World:
    """What the checks need to know about the local resources: names -> ARNs, keys, and the
    resource policies of everything that has one."""

    account: str
    region: str
    arns: dict[Any, str]  # Resource -> ARN
    queue_arns: dict[str, str] = field(default_factory=dict)  # queue URL or name -> ARN
    key_arns: dict[str, str] = field(default_factory=dict)  # key id, ARN or alias -> ARN
    # Buckets, queues, topics and tables encrypted with a KMS key: name or ARN -> the key's ARN.
    encrypted_with: dict[str, str] = field(default_factory=dict)
    # Buckets given mlaudit.bucket_policy's write-once statements (when `policies` does not hold them).
    write_once_buckets: frozenset[str] = frozenset()
    witness_buckets: frozenset[str] = frozenset()  # the same statements, on every key (WITNESS_PREFIXES)
    # Resource ARN (bucket, queue, topic, key, function) -> its resource policy.
    policies: dict[str, list[policy.Statement]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for buckets, prefixes in ((self.write_once_buckets, WRITE_ONCE_PREFIXES),
                                  (self.witness_buckets, WITNESS_PREFIXES)):
            for bucket in buckets:
                arn = f"arn:aws:s3:::{bucket}"
                self.policies.setdefault(arn, []).extend(
                    policy.Statement.from_json(s) for s in write_once_statements(arn, prefixes))

    def workgroup_arn(self, name: str) -> str:
        return f"arn:aws:athena:{self.region}:{self.account}:workgroup/{name}"

    def table_arn(self, name: str) -> str:
        return name if name.startswith("arn:") else f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"

    def role_arn(self, function: str) -> str:
        return f"arn:aws:iam::{self.account}:role/{function}"

    def policy_for(self, resource: str) -> list[policy.Statement] | None:
        """The resource policy that governs `resource` (an object: its bucket's)."""
        if resource in self.policies:
            return self.policies[resource]
        if resource.startswith("arn:aws:s3:::") and "/" in resource:
            return self.policies.get(resource.split("/", 1)[0])
        return None

    def is_key(self, resource: str) -> bool:
        return resource.startswith("arn:aws:kms:")


def statements_for(spec: FunctionSpec | ServiceRole, arns: dict[Any, str]) -> list[Statement]:
    """The declaration's grants as IAM statements over local ARNs (what stacks/functions.py
    renders with CloudFormation references); a service role's the same way."""
    found = []
    for grant in spec.grants:
        arn = arns[grant.resource]
        resource = f"{arn}/{grant.objects}" if grant.objects is not None else arn
        found.append(Statement(frozenset(a.lower() for a in grant.actions), (resource,)))
    return found


def needs(service: str, operation: str, params: dict[str, Any], world: World) -> list[Need]:
    """The (action, resource) pairs AWS would authorize for this call."""
    if service == "s3":
        return _s3(operation, params, world)
    if service == "dynamodb":
        return _dynamodb(operation, params, world)
    if service == "sqs":
        return _sqs(operation, params, world)
    if service == "kms":
        return [Need(f"kms:{operation}", world.key_arns.get(params.get("KeyId", ""), params.get("KeyId", "")))]
    if service == "athena":
        return [Need(f"athena:{operation}", world.workgroup_arn(params.get("WorkGroup", "")))]
    if service == "glue":
        return _glue(operation, params, world)
    if service == "sns":
        return _sns(operation, params, world)
    if service == "dynamodbstreams":  # DynamoDB Streams' API, authorized as dynamodb: actions on the stream
        return [Need(f"dynamodb:{operation}", params.get("StreamArn") or _stream_of(params.get("ShardIterator", "")))]
    if service == "sts" and operation == "GetCallerIdentity":
        return []  # allowed to everyone, as on AWS
    raise NotImplementedError(f"local IAM does not model {service}:{operation}; add it to local/iam.py")


def _stream_of(iterator: str) -> str:
    """The stream a shard iterator reads (moto's iterators start with the stream's ARN; AWS's
    are opaque, and AWS authorizes GetRecords on the stream they were made for)."""
    return iterator.split("|", 1)[0] if iterator.startswith("arn:") else iterator


def call_context(service: str, operation: str, params: dict[str, Any]) -> dict[str, policy.ContextValue]:
    """The condition keys of a request (what a resource policy's conditions read)."""
    context: dict[str, policy.ContextValue] = {"aws:SecureTransport": True}  # AWS SDKs use TLS
    if service == "s3":
        context["s3:ObjectCreationOperation"] = operation in OBJECT_CREATION_OPERATIONS
        if "IfNoneMatch" in params:
            context["s3:if-none-match"] = str(params["IfNoneMatch"])
    return context


def _s3(operation: str, params: dict[str, Any], world: World) -> list[Need]:
    bucket = params.get("Bucket", "")
    found: list[Need] = []
    if operation == "DeleteObjects":
        for obj in params.get("Delete", {}).get("Objects", []):
            action = "s3:DeleteObjectVersion" if "VersionId" in obj else "s3:DeleteObject"
            found.append(Need(action, f"arn:aws:s3:::{bucket}/{obj['Key']}"))
        return found
    action = _S3_ACTIONS.get(operation, f"s3:{operation}")
    if "VersionId" in params and operation in _S3_VERSIONED:
        action = _S3_VERSIONED[operation]
    if "Key" in params and action not in ("s3:ListBucket", "s3:ListBucketVersions"):
        found.append(Need(action, f"arn:aws:s3:::{bucket}/{params['Key']}"))
    else:
        found.append(Need(action, f"arn:aws:s3:::{bucket}"))
    if params.get("BypassGovernanceRetention"):
        found.append(Need("s3:BypassGovernanceRetention", found[0].resource))
    if operation == "CopyObject":
        found.append(_copy_source(params.get("CopySource", "")))
    key = world.encrypted_with.get(bucket)
    if key is not None and operation in _S3_WRITES:
        found.append(Need("kms:GenerateDataKey", key))
    if key is not None and operation in _S3_READS:
        found.append(Need("kms:Decrypt", key))
    return found


def _copy_source(source: Any) -> Need:
    """CopyObject reads its source: s3:GetObject, or s3:GetObjectVersion for a version."""
    if isinstance(source, dict):
        bucket, key, version = source["Bucket"], source["Key"], source.get("VersionId")
    else:
        path, _, query = str(source).lstrip("/").partition("?")
        bucket, _, key = unquote(path).partition("/")
        version = parse_qs(query).get("versionId", [None])[0]
    return Need("s3:GetObjectVersion" if version else "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}")


def _dynamodb(operation: str, params: dict[str, Any], world: World) -> list[Need]:
    if operation in ("BatchGetItem", "BatchWriteItem"):
        tables = list(params.get("RequestItems", {}))
        found = [Need(f"dynamodb:{operation}", world.table_arn(t)) for t in tables]
    elif operation in ("TransactWriteItems", "TransactGetItems"):
        found, tables = [], []
        for item in params.get("TransactItems", []):
            (kind, body), = item.items()
            tables.append(body["TableName"])
            found.append(Need(f"dynamodb:{_TRANSACT_ITEM_ACTIONS[kind]}", world.table_arn(body["TableName"])))
    else:
        tables = [params.get("TableName", "")]
        found = [Need(f"dynamodb:{operation}", world.table_arn(tables[0]))]
    # A table encrypted with a customer managed key: DynamoDB uses the caller's
    # permission on the key to open the table key.
    for table in tables:
        key = world.encrypted_with.get(world.table_arn(table))
        if key is not None:
            found.append(Need("kms:Decrypt", key))
    return found


def _glue(operation: str, params: dict[str, Any], world: World) -> list[Need]:
    """Glue authorizes a table read or update on the catalog, the database and the table."""
    base = f"arn:aws:glue:{world.region}:{world.account}"
    database = params.get("DatabaseName") if operation in ("GetTable", "UpdateTable") else params.get("Name")
    found = [Need(f"glue:{operation}", f"{base}:catalog"), Need(f"glue:{operation}", f"{base}:database/{database}")]
    if operation == "GetTable":
        found.append(Need(f"glue:{operation}", f"{base}:table/{database}/{params.get('Name')}"))
    elif operation == "UpdateTable":
        found.append(Need(f"glue:{operation}", f"{base}:table/{database}/{params.get('TableInput', {}).get('Name')}"))
    return found


def _sqs(operation: str, params: dict[str, Any], world: World) -> list[Need]:
    queue = params.get("QueueUrl") or params.get("QueueName", "")
    arn = world.queue_arns.get(queue, queue)
    found = [Need(_SQS_ACTIONS.get(operation, f"sqs:{operation}"), arn)]
    key = world.encrypted_with.get(arn)
    if key is not None and operation in ("SendMessage", "SendMessageBatch"):
        found += [Need("kms:GenerateDataKey", key), Need("kms:Decrypt", key)]
    if key is not None and operation == "ReceiveMessage":
        found.append(Need("kms:Decrypt", key))
    return found


def _sns(operation: str, params: dict[str, Any], world: World) -> list[Need]:
    topic = params.get("TopicArn", "")
    found = [Need(f"sns:{operation}", topic)]
    key = world.encrypted_with.get(topic)
    if key is not None and operation in ("Publish", "PublishBatch"):
        # SNS encrypts with the caller's permissions on the topic's key.
        found += [Need("kms:GenerateDataKey", key), Need("kms:Decrypt", key)]
    return found


def bucket_policy_denials(operation: str, params: dict[str, Any], world: World) -> list[tuple[Need, str]]:
    """The (action, object) pairs of an S3 call that its bucket's policy denies to every
    principal, with the deciding statement's Sid (a Deny beats any Allow)."""
    anyone = policy.Principal.role(f"arn:aws:iam::{world.account}:role/anyone", "anyone")
    context = call_context("s3", operation, params)
    found = []
    for need in _s3(operation, params, world):
        if not need.action.startswith("s3:"):
            continue
        decision = policy.decide(policy.Request.make(anyone, need.action, need.resource, context),
                                 [policy.Statement("Allow", ("s3:*",), ("*",))], world.policy_for(need.resource))
        if not decision.allowed:
            found.append((need, decision.statement))
    return found


class Enforcer:
    """One function's permissions: checks every call against its identity policy and the
    resources' policies, records what was allowed and denied."""

    def __init__(self, function: str, statements: Iterable[Statement], world: World) -> None:
        self.function = function
        self.statements = list(statements)
        self.world = world
        self.identity = [s.to_policy() for s in self.statements]
        self.principal = policy.Principal.role(world.role_arn(function), function)
        self.allowed: set[Need] = set()
        self.denied: list[Need] = []
        self._lock = threading.Lock()

    def check(self, needed: Iterable[Need], operation: str,
              context: Mapping[str, policy.ContextValue] | None = None) -> None:
        context = context if context is not None else {"aws:SecureTransport": True}
        for need in needed:
            request = policy.Request.make(self.principal, need.action, need.resource, context)
            decision = policy.decide(request, self.identity, self.world.policy_for(need.resource),
                                     key_policy=self.world.is_key(need.resource))
            if not decision.allowed:
                with self._lock:
                    self.denied.append(need)
                reason = decision.reason
                if decision.statement:
                    reason = f"{reason} ({decision.statement})"
                if reason == "because no identity-based policy allows it":
                    reason = "(no grant in its declaration allows it)"
                denied = AccessDenied(self.function, need, operation, reason=reason)
                logger.warning("%s", denied.response["Error"]["Message"])  # as CloudTrail would record it
                raise denied
            with self._lock:
                self.allowed.add(need)

    def check_call(self, service: str, operation: str, params: dict[str, Any]) -> None:
        self.check(needs(service, operation, params, self.world), f"{service}:{operation}",
                   call_context(service, operation, params))

    def guard(self, client: Any) -> Any:
        """Check every call of this boto3 client before it is sent."""
        service = client.meta.service_model.service_name

        def before_call(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            self.check_call(service, model.name, params)
            context["local_iam_bucket"] = params.get("Bucket")

        def after_call(http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
            # S3 answers 404 for a missing key only to a caller who may list the bucket (403 otherwise).
            if http_response.status_code == 404 and model.name in ("HeadObject", "GetObject"):
                bucket = context.get("local_iam_bucket")
                self.check([Need("s3:ListBucket", f"arn:aws:s3:::{bucket}")], f"s3:{model.name}")

        client.meta.events.register("before-parameter-build", before_call)
        if service == "s3":
            client.meta.events.register("after-call.s3", after_call)
        return client


class ServicePrincipals:
    """The AWS services that act in the stack, where the local stack plays their part: each
    of their requests is evaluated against the resource policies (a service has no
    identity policy), recorded, and a refusal logged as the service reports it."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.allowed: set[tuple[str, str, str]] = set()
        self.denied: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def decide(self, service: str, action: str, resource: str,
               context: Mapping[str, policy.ContextValue]) -> policy.Decision:
        request = policy.Request.make(policy.Principal.of_service(service), action, resource,
                                      {"aws:SecureTransport": True, "aws:SourceAccount": self.world.account,
                                       **context})
        decision = policy.decide(request, [], self.world.policy_for(resource), key_policy=self.world.is_key(resource))
        with self._lock:
            (self.allowed.add if decision.allowed else self.denied.append)((service, action, resource))
        if not decision.allowed:
            logger.warning("local IAM: %s", decision.message)
        return decision

    def allow_all(self, service: str, steps: Iterable[tuple[str, str]],
                  context: Mapping[str, policy.ContextValue]) -> policy.Decision | None:
        """Each (action, resource) in turn; the first refusal, or None when all are allowed."""
        for action, resource in steps:
            decision = self.decide(service, action, resource, context)
            if not decision.allowed:
                return decision
        return None

    def sends(self, action: str, resource: str) -> list[tuple[str, str]]:
        """`action` on a queue or topic, and what its encryption asks of the sender's key."""
        key = self.world.encrypted_with.get(resource)
        return [(action, resource), *([("kms:GenerateDataKey", key), ("kms:Decrypt", key)] if key else [])]


def enforced_clients(make_client: Callable[[str], Any], enforcer: Enforcer) -> Callable[[str], Any]:
    """A client factory whose clients are held to `enforcer` (one client per service)."""
    made: dict[str, Any] = {}
    lock = threading.Lock()

    def clients(service: str) -> Any:
        with lock:
            if service not in made:
                made[service] = enforcer.guard(make_client(service))
            return made[service]

    return clients
