"""Each evaluation as EMF (CloudWatch turns stdout lines into metrics; no grant needed):
`monitor_value` (what it measured; absent with insufficient data) and `monitor_alarm`
(1 in ALARM, 0 otherwise), with dimensions model_id and monitor (names from the monitors
file only: bounded). The CloudWatch alarm of each monitor is on `monitor_alarm`."""

from __future__ import annotations

import os

from mlaudit.monitors import Monitor

DEFAULT_NAMESPACE = "mlaudit"
VALUE, ALARM_METRIC = "monitor_value", "monitor_alarm"


class EmfMonitorMetrics:
    def evaluated(self, monitor: Monitor, value: float | None, state: str) -> None:
        from aws_lambda_powertools.metrics import EphemeralMetrics  # noqa: PLC0415 - on the first emit only

        document = EphemeralMetrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE)
        document.add_dimension(name="model_id", value=monitor.model_id)
        document.add_dimension(name="monitor", value=monitor.name)
        document.add_metric(name=ALARM_METRIC, unit="Count", value=1.0 if state == "ALARM" else 0.0)
        if value is not None:
            document.add_metric(name=VALUE, unit="None", value=value)
        document.flush_metrics()


class SnsAlarmTopic:
    """The monitors' alarm topic (KMS-encrypted: publishing needs the data key)."""

    def __init__(self, sns: object, topic_arn: str) -> None:
        self.sns = sns
        self.topic_arn = topic_arn

    def publish(self, subject: str, message: str) -> None:
        self.sns.publish(TopicArn=self.topic_arn, Subject=subject, Message=message)  # type: ignore[attr-defined]
