"""IAM, enforced on the laptop: every AWS call a function makes is checked against the
grants its declaration gives it (`mlaudit.functions`), the same grants the CDK app
renders into the function's role (tests/infra/test_declared_roles.py proves they match).

Why not moto's own IAM mode: moto checks resources only for S3 and evaluates every
other service's call against the resource "*", so a role scoped to one table or one
queue is refused everything; and it knows nothing of the KMS permissions that SSE-KMS
buckets, encrypted queues and encrypted tables ask of the caller. Here each call
becomes the (action, resource) pairs AWS would authorize, including those implied
KMS calls, and an Allow must match each; otherwise the call fails as AWS fails it:
AccessDenied, naming the function, the action and the resource.

Each client records what it was allowed, so a test can show that every declared
action is needed by some call (tests/integration/test_iam_enforced.py).
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from mlaudit.bucket_policy import OBJECT_CREATION_OPERATIONS, WITNESS_PREFIXES, WRITE_ONCE, WRITE_ONCE_PREFIXES
from mlaudit.functions import FunctionSpec

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
    def __init__(self, function: str, need: Need, operation: str, denied_by: str = "") -> None:
        reason = (f"with an explicit deny in the bucket policy ({denied_by})" if denied_by
                  else "(no grant in its declaration allows it)")
        message = (f"local IAM: function {function} is not authorized to perform: {need.action} "
                   f"on resource: {need.resource} {reason}")
        super().__init__({"Error": {"Code": "AccessDenied", "Message": message}}, operation)
        self.function = function
        self.need = need


@dataclass(frozen=True)
class Statement:
    actions: frozenset[str]
    resources: tuple[str, ...]

    def allows(self, need: Need) -> bool:
        # IAM matches actions case-insensitively, resources with * and ? wildcards.
        return need.action.lower() in self.actions and any(
            fnmatch.fnmatchcase(need.resource, pattern) for pattern in self.resources
        )


@dataclass
class World:
    """What the checks need to know about the local resources: names -> ARNs, keys."""

    account: str
    region: str
    arns: dict[Any, str]  # Resource -> ARN
    queue_arns: dict[str, str] = field(default_factory=dict)  # queue URL or name -> ARN
    key_arns: dict[str, str] = field(default_factory=dict)  # key id, ARN or alias -> ARN
    # Buckets, queues and tables encrypted with a KMS key: name or ARN -> the key's ARN.
    encrypted_with: dict[str, str] = field(default_factory=dict)
    # Buckets whose policy holds mlaudit.bucket_policy.WRITE_ONCE (the audit bucket), and
    # the witness, whose policy holds it for every object.
    write_once_buckets: frozenset[str] = frozenset()
    witness_buckets: frozenset[str] = frozenset()

    def workgroup_arn(self, name: str) -> str:
        return f"arn:aws:athena:{self.region}:{self.account}:workgroup/{name}"

    def table_arn(self, name: str) -> str:
        return name if name.startswith("arn:") else f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"


def statements_for(spec: FunctionSpec, arns: dict[Any, str]) -> list[Statement]:
    """The declaration's grants as IAM statements over local ARNs (what stacks/functions.py
    renders with CloudFormation references)."""
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
    if service == "sts" and operation == "GetCallerIdentity":
        return []  # allowed to everyone, as on AWS
    raise NotImplementedError(f"local IAM does not model {service}:{operation}; add it to local/iam.py")


def _s3(operation: str, params: dict[str, Any], world: World) -> list[Need]:
    bucket = params.get("Bucket", "")
    action = _S3_ACTIONS.get(operation, f"s3:{operation}")
    if "Key" in params and action not in ("s3:ListBucket", "s3:ListBucketVersions"):
        found = [Need(action, f"arn:aws:s3:::{bucket}/{params['Key']}")]
    else:
        found = [Need(action, f"arn:aws:s3:::{bucket}")]
    key = world.encrypted_with.get(bucket)
    if key is not None and operation in _S3_WRITES:
        found.append(Need("kms:GenerateDataKey", key))
    if key is not None and operation in _S3_READS:
        found.append(Need("kms:Decrypt", key))
    return found


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
    """Glue authorizes a table read on the catalog, the database and the table."""
    base = f"arn:aws:glue:{world.region}:{world.account}"
    database = params.get("DatabaseName") if operation == "GetTable" else params.get("Name")
    found = [Need(f"glue:{operation}", f"{base}:catalog"), Need(f"glue:{operation}", f"{base}:database/{database}")]
    if operation == "GetTable":
        found.append(Need(f"glue:{operation}", f"{base}:table/{database}/{params.get('Name')}"))
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
    """The (action, object) pairs of an S3 call that a write-once bucket policy denies,
    with the statement's Sid. A Deny beats any Allow, for every principal."""
    bucket = params.get("Bucket", "")
    if bucket not in world.write_once_buckets | world.witness_buckets:
        return []
    prefixes = WITNESS_PREFIXES if bucket in world.witness_buckets else WRITE_ONCE_PREFIXES
    if operation == "DeleteObjects":
        keys = [o["Key"] for o in params.get("Delete", {}).get("Objects", [])]
        versioned = any("VersionId" in o for o in params.get("Delete", {}).get("Objects", []))
    else:
        keys = [params["Key"]] if "Key" in params else []
        versioned = "VersionId" in params
    actions = [_S3_ACTIONS.get(operation, f"s3:{operation}")]
    if operation in ("DeleteObject", "DeleteObjects"):
        actions = ["s3:DeleteObjectVersion" if versioned else "s3:DeleteObject"]
    if params.get("BypassGovernanceRetention"):
        actions.append("s3:BypassGovernanceRetention")
    context: dict[str, Any] = {"s3:ObjectCreationOperation": operation in OBJECT_CREATION_OPERATIONS}
    if "IfNoneMatch" in params:
        context["s3:if-none-match"] = params["IfNoneMatch"]
    return [
        (Need(action, f"arn:aws:s3:::{bucket}/{key}"), deny.sid)
        for key in keys for action in actions for deny in WRITE_ONCE if deny.applies(action, key, context, prefixes)
    ]


class Enforcer:
    """One function's permissions: checks needs, records what was allowed."""

    def __init__(self, function: str, statements: Iterable[Statement], world: World) -> None:
        self.function = function
        self.statements = list(statements)
        self.world = world
        self.allowed: set[Need] = set()
        self.denied: list[Need] = []
        self._lock = threading.Lock()

    def check(self, needed: Iterable[Need], operation: str) -> None:
        for need in needed:
            if not any(statement.allows(need) for statement in self.statements):
                with self._lock:
                    self.denied.append(need)
                denied = AccessDenied(self.function, need, operation)
                logger.warning("%s", denied.response["Error"]["Message"])  # as CloudTrail would record it
                raise denied
            with self._lock:
                self.allowed.add(need)

    def check_call(self, service: str, operation: str, params: dict[str, Any]) -> None:
        if service == "s3":
            for need, sid in bucket_policy_denials(operation, params, self.world):
                with self._lock:
                    self.denied.append(need)
                denied = AccessDenied(self.function, need, f"s3:{operation}", denied_by=sid)
                logger.warning("%s", denied.response["Error"]["Message"])
                raise denied
        self.check(needs(service, operation, params, self.world), f"{service}:{operation}")

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
