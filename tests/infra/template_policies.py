"""The synthesized template's resource and identity policies, and the paths AWS services
take through the stack, as plain strings local/policy.py can evaluate.

`Evaluator` resolves CloudFormation intrinsics (Ref, Fn::GetAtt, Fn::Join, Fn::Select,
Fn::Split, Fn::Sub) to the values AWS would give them in one fixed account and region:
each resource's physical name is its logical id, and every ARN is built as its service
builds it. `service_paths` reads what the template wires (alarm actions, EventBridge
targets and their dead-letter queues, functions' dead-letter queues, API methods and the
authorizer, the SQS event source, S3 access logging, encrypted log groups) and turns each
into the requests the service makes, evaluated with `decide` against the template's own
policies. Nothing here is mlaudit-specific: a new wiring of a known kind is checked as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from local.policy import Decision, Principal, Request, Statement, decide

ACCOUNT, REGION, PARTITION = "123456789012", "eu-west-1", "aws"
PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION,
          "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "mlaudit-stack", "AWS::NoValue": None,
          "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/mlaudit-stack/0a1b2c3d"}


class Evaluator:
    def __init__(self, resources: dict[str, dict[str, Any]]) -> None:
        self.resources = resources

    def type_of(self, logical_id: str) -> str:
        return self.resources[logical_id]["Type"]

    def props(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties", {})

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, argument), = value.items()
            if name == "Ref":
                return PSEUDO[argument] if argument in PSEUDO else self.ref(argument)
            if name == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(logical_id, attribute)
            if name == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self(p)) for p in self(parts))
            if name == "Fn::Select":
                index, items = argument
                return self(items)[int(self(index))]
            if name == "Fn::Split":
                separator, text = argument
                return str(self(text)).split(separator)
            if name == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(self(variables[m.group(1)]) if m.group(1) in variables
                                                             else self({"Ref": m.group(1)} if "." not in m.group(1)
                                                                       else {"Fn::GetAtt": m.group(1)})), text)
        return {k: self(v) for k, v in value.items()}

    # Types whose Ref is a physical name, and the property that sets it; any other Ref is an id
    # (here, the logical id).
    NAMED = {"AWS::S3::Bucket": "BucketName", "AWS::SQS::Queue": "QueueName", "AWS::SNS::Topic": "TopicName",
             "AWS::Lambda::Function": "FunctionName", "AWS::Logs::LogGroup": "LogGroupName",
             "AWS::IAM::Role": "RoleName", "AWS::Events::Rule": "Name", "AWS::CloudWatch::Alarm": "AlarmName"}

    def name(self, logical_id: str) -> str:
        """A resource's physical name (or id): the name property it sets, else its logical id."""
        kind = self.type_of(logical_id)
        key = self.NAMED.get(kind)
        if key and key in self.props(logical_id):
            return str(self(self.props(logical_id)[key]))
        return logical_id.lower() if kind == "AWS::S3::Bucket" else logical_id

    def ref(self, logical_id: str) -> str:
        kind, name = self.type_of(logical_id), self.name(logical_id)
        if kind == "AWS::SNS::Topic":
            return f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:{name}"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        if kind == "AWS::Lambda::Alias":
            function = self.function_name(self.props(logical_id)["FunctionName"])
            return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{function}:{self.props(logical_id)['Name']}"
        if kind == "AWS::ApiGateway::Stage":
            return str(self(self.props(logical_id)["StageName"]))
        return name

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind, name = self.type_of(logical_id), self.name(logical_id)
        base = f"arn:{PARTITION}:{{}}:{REGION}:{ACCOUNT}:"
        arns = {
            "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{name}",
            "AWS::SQS::Queue": base.format("sqs") + name,
            "AWS::SNS::Topic": base.format("sns") + name,
            "AWS::KMS::Key": base.format("kms") + f"key/{name}",
            "AWS::Lambda::Function": base.format("lambda") + f"function:{name}",
            "AWS::Events::Rule": base.format("events") + f"rule/{name}",
            "AWS::CloudWatch::Alarm": base.format("cloudwatch") + f"alarm:{name}",
            "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}",
            "AWS::Logs::LogGroup": base.format("logs") + f"log-group:{name}:*",
        }
        if attribute in ("Arn", "TopicArn"):
            return arns.get(kind, base.format(kind.split("::")[1].lower()) + name)
        if attribute == "QueueUrl":
            return self.ref(logical_id)
        if attribute == "QueueName":
            return name
        return f"{logical_id}.{attribute}"

    def function_name(self, value: Any) -> str:
        """A FunctionName property (a name, an ARN or a Ref) as the bare function name."""
        text = str(self(value))
        return text.split(":function:")[1].split(":")[0] if ":function:" in text else text

    def function_arn(self, value: Any) -> str:
        """A FunctionName or target (a name, ARN or alias ARN) as an ARN."""
        text = str(self(value))
        return text if text.startswith("arn:") else f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{text}"

    def of_type(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource["Type"] == kind:
                yield logical_id, resource.get("Properties", {})


@dataclass
class Policies:
    """Resource policies by the ARN of what holds them, identity policies by role ARN."""

    resource: dict[str, list[Statement]]
    identity: dict[str, list[Statement]]
    keys: set[str]  # the ARNs that are KMS keys
    # Which template resource wrote each resource-policy statement (for messages and removal).
    origin: dict[int, str]

    def for_resource(self, arn: str) -> list[Statement] | None:
        if arn in self.resource:
            return self.resource[arn]
        if arn.startswith("arn:aws:s3:::") and "/" in arn:
            return self.resource.get(arn.split("/", 1)[0])
        return None

    def without(self, statement_id: int) -> Policies:
        return Policies({arn: [s for s in found if id(s) != statement_id] for arn, found in self.resource.items()},
                        self.identity, self.keys, self.origin)


def template_policies(ev: Evaluator) -> Policies:
    resource: dict[str, list[Statement]] = {}
    origin: dict[int, str] = {}

    def add(arn: str, statements: Iterable[dict[str, Any]], logical_id: str) -> None:
        for body in statements:
            statement = Statement.from_json(ev(body))
            resource.setdefault(arn, []).append(statement)
            origin[id(statement)] = logical_id

    for logical_id, props in ev.of_type("AWS::S3::BucketPolicy"):
        add(f"arn:{PARTITION}:s3:::{ev(props['Bucket'])}", props["PolicyDocument"]["Statement"], logical_id)
    for logical_id, props in ev.of_type("AWS::SQS::QueuePolicy"):
        for queue in props["Queues"]:
            add(_queue_arn(str(ev(queue))), props["PolicyDocument"]["Statement"], logical_id)
    for logical_id, props in ev.of_type("AWS::SNS::TopicPolicy"):
        for topic in props["Topics"]:
            add(str(ev(topic)), props["PolicyDocument"]["Statement"], logical_id)
    keys = set()
    for logical_id, props in ev.of_type("AWS::KMS::Key"):
        arn = ev.get_att(logical_id, "Arn")
        keys.add(arn)
        add(arn, props["KeyPolicy"]["Statement"], logical_id)
    for logical_id, props in ev.of_type("AWS::Lambda::Permission"):
        condition = {"ArnLike": {"aws:SourceArn": props["SourceArn"]}} if "SourceArn" in props else {}
        if "SourceAccount" in props:
            condition["StringEquals"] = {"aws:SourceAccount": props["SourceAccount"]}
        add(ev.function_arn(props["FunctionName"]), [{
            "Effect": "Allow", "Principal": {"Service": props["Principal"]}, "Action": props["Action"],
            "Resource": ev.function_arn(props["FunctionName"]), "Condition": condition,
        }], logical_id)
    identity: dict[str, list[Statement]] = {}
    for _, props in ev.of_type("AWS::IAM::Policy"):
        for role in props.get("Roles", []):
            role_arn = f"arn:{PARTITION}:iam::{ACCOUNT}:role/{ev(role)}"
            identity.setdefault(role_arn, []).extend(
                Statement.from_json(ev(s)) for s in props["PolicyDocument"]["Statement"])
    return Policies(resource, identity, keys, origin)


def _queue_arn(url: str) -> str:
    account, name = url.rstrip("/").split("/")[-2:]
    return f"arn:{PARTITION}:sqs:{REGION}:{account}:{name}"


@dataclass(frozen=True)
class Step:
    """One request a path makes, and the policies that decide it."""

    path: str  # what takes it, in words
    request: Request


def _context(**keys: Any) -> dict[str, Any]:
    return {"aws:SecureTransport": True, **{k.replace("__", ":"): v for k, v in keys.items() if v is not None}}


def _key_of(ev: Evaluator, logical_id: str) -> str | None:
    """The KMS key ARN a queue or topic is encrypted with (KmsMasterKeyId), if any."""
    key = ev.props(logical_id).get("KmsMasterKeyId")
    if key is None:
        return None
    text = str(ev(key))
    return text if text.startswith("arn:") else f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{text}"


def _logical_id_of_arn(ev: Evaluator, arn: str, kind: str) -> str | None:
    return next((lid for lid, _ in ev.of_type(kind) if ev.get_att(lid, "Arn") == arn), None)


def service_paths(ev: Evaluator) -> list[Step]:
    """Every request an AWS service makes on the stack's behalf, as the template wires it."""
    steps: list[Step] = []
    cloudwatch, events = Principal.of_service("cloudwatch.amazonaws.com"), Principal.of_service("events.amazonaws.com")
    apigateway = Principal.of_service("apigateway.amazonaws.com")

    def encrypted_send(path: str, principal: Principal, queue_or_topic: str, arn: str, action: str,
                       context: dict[str, Any]) -> None:
        steps.append(Step(path, Request.make(principal, action, arn, context)))
        key = _key_of(ev, queue_or_topic)
        if key:
            for key_action in ("kms:GenerateDataKey", "kms:Decrypt"):
                steps.append(Step(path, Request.make(principal, key_action, key, context)))

    # CloudWatch alarms -> SNS topics (and the topics' keys).
    for logical_id, props in ev.of_type("AWS::CloudWatch::Alarm"):
        alarm_arn = ev.get_att(logical_id, "Arn")
        for field in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            for action in props.get(field, []):
                topic_arn = str(ev(action))
                topic = _logical_id_of_arn(ev, topic_arn, "AWS::SNS::Topic") or next(
                    (lid for lid, _ in ev.of_type("AWS::SNS::Topic") if ev.ref(lid) == topic_arn), None)
                if topic is None:
                    continue
                encrypted_send(f"alarm {logical_id} -> {field} {topic}", cloudwatch, topic, topic_arn, "sns:Publish",
                               _context(aws__SourceArn=alarm_arn, aws__SourceAccount=ACCOUNT))
    # EventBridge rules -> Lambda targets, and their dead-letter queues.
    for logical_id, props in ev.of_type("AWS::Events::Rule"):
        rule_arn = ev.get_att(logical_id, "Arn")
        context = _context(aws__SourceArn=rule_arn, aws__SourceAccount=ACCOUNT)
        for target in props.get("Targets", []):
            target_arn = str(ev(target["Arn"]))
            if ":lambda:" in target_arn:
                steps.append(Step(f"rule {logical_id} -> {target_arn}",
                                  Request.make(events, "lambda:InvokeFunction", target_arn, context)))
            dead_letter = target.get("DeadLetterConfig", {}).get("Arn")
            if dead_letter is not None:
                queue_arn = str(ev(dead_letter))
                queue = _logical_id_of_arn(ev, queue_arn, "AWS::SQS::Queue")
                encrypted_send(f"rule {logical_id} -> dead-letter queue", events, queue, queue_arn,
                               "sqs:SendMessage", context)
    # Lambda's asynchronous invocation -> a function's dead-letter queue, with the function's role.
    for logical_id, props in ev.of_type("AWS::Lambda::Function"):
        target = props.get("DeadLetterConfig", {}).get("TargetArn")
        if target is None:
            continue
        role = Principal.role(str(ev(props["Role"])), logical_id)
        queue_arn = str(ev(target))
        encrypted_send(f"function {logical_id} -> its dead-letter queue", role,
                       _logical_id_of_arn(ev, queue_arn, "AWS::SQS::Queue"), queue_arn, "sqs:SendMessage", _context())
    # API Gateway -> each method's function, and the authorizer.
    stage = next(str(ev(props["StageName"])) for _, props in ev.of_type("AWS::ApiGateway::Stage"))
    for logical_id, props in ev.of_type("AWS::ApiGateway::Method"):
        uri = str(ev(props.get("Integration", {}).get("Uri", "")))
        if "/functions/" not in uri:
            continue
        function = uri.split("/functions/")[1].removesuffix("/invocations")
        api = str(ev(props["RestApiId"]))
        source = f"arn:{PARTITION}:execute-api:{REGION}:{ACCOUNT}:{api}/{stage}/{props['HttpMethod']}{_path(ev, props)}"
        steps.append(Step(f"API {props['HttpMethod']} {_path(ev, props)} ({logical_id})",
                          Request.make(apigateway, "lambda:InvokeFunction", function,
                                       _context(aws__SourceArn=source, aws__SourceAccount=ACCOUNT))))
    for logical_id, props in ev.of_type("AWS::ApiGateway::Authorizer"):
        uri = str(ev(props["AuthorizerUri"]))
        function = uri.split("/functions/")[1].removesuffix("/invocations")
        source = f"arn:{PARTITION}:execute-api:{REGION}:{ACCOUNT}:{ev(props['RestApiId'])}/authorizers/{logical_id}"
        context = _context(aws__SourceArn=source, aws__SourceAccount=ACCOUNT)
        steps.append(Step(f"authorizer {logical_id}",
                          Request.make(apigateway, "lambda:InvokeFunction", function, context)))
    # Lambda's SQS poller, with the function's role.
    for logical_id, props in ev.of_type("AWS::Lambda::EventSourceMapping"):
        function = ev.function_name(props["FunctionName"])
        role = Principal.role(str(ev(ev.props(function)["Role"])), function)
        queue_arn = str(ev(props["EventSourceArn"]))
        queue = _logical_id_of_arn(ev, queue_arn, "AWS::SQS::Queue")
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            steps.append(Step(f"event source {logical_id}", Request.make(role, action, queue_arn, _context())))
        key = _key_of(ev, queue)
        if key:
            steps.append(Step(f"event source {logical_id}", Request.make(role, "kms:Decrypt", key, _context())))
    # S3 server access logs -> the log bucket.
    logging = Principal.of_service("logging.s3.amazonaws.com")
    for logical_id, props in ev.of_type("AWS::S3::Bucket"):
        config = props.get("LoggingConfiguration")
        if config is None:
            continue
        destination = f"arn:{PARTITION}:s3:::{ev(config['DestinationBucketName'])}/{config.get('LogFilePrefix', '')}"
        steps.append(Step(f"access logs of {logical_id}", Request.make(
            logging, "s3:PutObject", destination + "2026-01-01-00-00-00-0000", _context(
                aws__SourceArn=ev.get_att(logical_id, "Arn"), aws__SourceAccount=ACCOUNT))))
    # CloudWatch Logs -> the key of each encrypted log group.
    logs = Principal.of_service(f"logs.{REGION}.amazonaws.com")
    for logical_id, props in ev.of_type("AWS::Logs::LogGroup"):
        if "KmsKeyId" not in props:
            continue
        group = ev.get_att(logical_id, "Arn").removesuffix(":*")
        for action in ("kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"):
            steps.append(Step(f"log group {logical_id}", Request.make(
                logs, action, str(ev(props["KmsKeyId"])), _context(**{"kms__EncryptionContext:aws:logs:arn": group}))))
    return steps


def _path(ev: Evaluator, method: dict[str, Any]) -> str:
    parts, resource = [], method["ResourceId"]
    while isinstance(resource, dict) and "Ref" in resource and resource["Ref"] in ev.resources \
            and ev.type_of(resource["Ref"]) == "AWS::ApiGateway::Resource":
        props = ev.props(resource["Ref"])
        part = props["PathPart"]
        parts.append("sample" if part.startswith("{") else part)
        resource = props["ParentId"]
    return "/" + "/".join(reversed(parts))


def evaluate(step: Step, policies: Policies) -> Decision:
    request = step.request
    identity = policies.identity.get(request.principal.arn, []) if request.principal.arn else []
    is_key = request.resource in policies.keys
    return decide(request, identity, policies.for_resource(request.resource), key_policy=is_key)


def denials(steps: Iterable[Step], policies: Policies) -> list[str]:
    """Each refused step: what takes it, and AWS's message naming principal, action, resource."""
    found = []
    for step in steps:
        decision = evaluate(step, policies)
        if not decision.allowed:
            found.append(f"{step.path}: {decision.message}")
    return found
