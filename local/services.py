"""What AWS services do in the stack where moto cannot: EventBridge invoking a function
(the schedules, a file landed) with Lambda's asynchronous retries and the dead-letter
queues, and CloudWatch alarms notifying their SNS topics. Each step is taken as the
service's principal and checked against the resource policies first (local/iam.py,
`ServicePrincipals`): a permission or a key-policy statement the service lacks on AWS
stops the delivery here too, logged with AWS's message.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.iam import ServicePrincipals
from local.periodic import Periodic
from local.runtime import LambdaContext

logger = logging.getLogger(__name__)

EVENTS, CLOUDWATCH = "events.amazonaws.com", "cloudwatch.amazonaws.com"
ASYNC_RETRIES = 2  # Lambda retries a failed asynchronous invocation twice (its default, and the stack's)


@dataclass
class LambdaTarget:
    """An EventBridge rule's target: one function, invoked asynchronously.

    EventBridge needs the function's permission for the rule (Lambda permissions); an event
    it cannot deliver goes to the target's dead-letter queue, if any (the queue's policy and
    key policy must let EventBridge send). A delivered event the function fails on is
    retried by Lambda, then sent to the function's own dead-letter queue with the
    function's role (`send_with_role`, the function's enforced SQS client)."""

    function: str
    function_arn: str
    rule_arn: str
    services: ServicePrincipals
    timeout_seconds: float
    region: str
    target_dead_letter: str | None = None  # queue ARN
    send_with_stack: Callable[[str, dict[str, Any], dict[str, str]], None] | None = None  # (queue ARN, body, attrs)
    function_dead_letter: str | None = None  # queue ARN
    send_with_role: Callable[[str, dict[str, Any], dict[str, str]], None] | None = None
    # The function's handler as the platform invokes it (LocalStack.handler: counted when usage is on).
    load_handler: Callable[[str], Callable[[Any, Any], Any]] | None = None
    invocations: int = 0
    failures: int = 0

    def deliver(self, event: dict[str, Any]) -> None:
        refused = self.services.allow_all(EVENTS, [("lambda:InvokeFunction", self.function_arn)],
                                          {"aws:SourceArn": self.rule_arn})
        if refused is not None:
            self._target_dead_letter(event, "AccessDeniedException", refused.message)
            return
        load = self.load_handler or (lambda name: importlib.import_module(f"mlaudit.handlers.{name}").handler)
        handler = load(self.function)
        error: Exception | None = None
        for _ in range(1 + ASYNC_RETRIES):
            self.invocations += 1
            try:
                handler(event, LambdaContext(self.function, self.timeout_seconds, region=self.region))
                return
            except Exception as exc:  # logged as Lambda would; then retried
                error = exc
                logger.exception("%s failed on an asynchronous event", self.function)
        self.failures += 1
        if self.function_dead_letter and self.send_with_role:
            try:
                self.send_with_role(self.function_dead_letter, event, {
                    "RequestID": str(uuid.uuid4()), "ErrorCode": "200",
                    "ErrorMessage": f"{type(error).__name__}: {error}"[:1000]})
            except Exception:
                logger.exception("%s: Lambda could not send the failed event to its dead-letter queue", self.function)

    def _target_dead_letter(self, event: dict[str, Any], code: str, message: str) -> None:
        if not (self.target_dead_letter and self.send_with_stack):
            logger.error("EventBridge dropped an event for %s: %s", self.function, message)
            return
        refused = self.services.allow_all(EVENTS, self.services.sends("sqs:SendMessage", self.target_dead_letter),
                                          {"aws:SourceArn": self.rule_arn})
        if refused is not None:
            logger.error("EventBridge dropped an event for %s: %s", self.function, refused.message)
            return
        self.send_with_stack(self.target_dead_letter, event, {
            "RULE_ARN": self.rule_arn, "TARGET_ARN": self.function_arn, "ERROR_CODE": code,
            "ERROR_MESSAGE": message[:1000]})


class AlarmActions(Periodic):
    """CloudWatch's side of an alarm: when an alarm (in moto) changes state, notify the
    topics of that state's actions, as the principal cloudwatch.amazonaws.com (moto
    stores alarms and their states, and notifies no one). The state changes by
    SetAlarmState here (moto evaluates no metric)."""

    def __init__(self, cloudwatch: Any, sns: Any, services: ServicePrincipals, *, region: str, account: str,
                 interval: float = 1.0) -> None:
        super().__init__("alarm-actions", interval)
        self.cloudwatch = cloudwatch
        self.sns = sns
        self.services = services
        self.region = region
        self.account = account
        self.notified = 0
        self._states: dict[str, tuple[str, str]] = {}

    def tick(self) -> None:
        for page in self.cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
            for alarm in page.get("MetricAlarms", []):
                self._observe(alarm)

    def _observe(self, alarm: dict[str, Any]) -> None:
        name, state = alarm["AlarmName"], alarm["StateValue"]
        seen = (state, str(alarm.get("StateUpdatedTimestamp")))
        previous = self._states.get(name)
        self._states[name] = seen
        if previous is None or previous[0] == state or not alarm.get("ActionsEnabled", True):
            return  # first sight, or no change of state: CloudWatch notifies on transitions only
        actions = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}
        for topic in alarm.get(actions[state], []):
            if ":sns:" not in topic:
                continue
            refused = self.services.allow_all(CLOUDWATCH, self.services.sends("sns:Publish", topic),
                                              {"aws:SourceArn": alarm["AlarmArn"]})
            if refused is not None:
                # What the alarm's history shows on AWS; nothing is delivered.
                logger.error("alarm %s could not notify %s: %s", name, topic, refused.message)
                continue
            self.sns.publish(TopicArn=topic, Subject=f'{state}: "{name}" in {self.region}'[:100],
                             Message=json.dumps(self._message(alarm, previous[0])))
            self.notified += 1

    def _message(self, alarm: dict[str, Any], old_state: str) -> dict[str, Any]:
        """The JSON CloudWatch sends to a topic."""
        return {
            "AlarmName": alarm["AlarmName"], "AlarmDescription": alarm.get("AlarmDescription"),
            "AWSAccountId": self.account, "NewStateValue": alarm["StateValue"],
            "NewStateReason": alarm.get("StateReason", ""), "OldStateValue": old_state,
            "StateChangeTime": time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime()),
            "Region": self.region, "AlarmArn": alarm["AlarmArn"],
            "AlarmActions": alarm.get("AlarmActions", []), "OKActions": alarm.get("OKActions", []),
            "InsufficientDataActions": alarm.get("InsufficientDataActions", []),
            "Trigger": {"MetricName": alarm.get("MetricName"), "Namespace": alarm.get("Namespace"),
                        "Statistic": alarm.get("Statistic"), "Dimensions": alarm.get("Dimensions", []),
                        "Period": alarm.get("Period"), "EvaluationPeriods": alarm.get("EvaluationPeriods"),
                        "ComparisonOperator": alarm.get("ComparisonOperator"), "Threshold": alarm.get("Threshold"),
                        "TreatMissingData": alarm.get("TreatMissingData")},
        }
