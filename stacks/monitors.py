"""The monitors (lambdas/mlaudit/monitors/monitors.json) on AWS: their alarm topic, the
schedule that runs the monitors function, one CloudWatch alarm per monitor on the EMF
metric the function emits (`monitor_alarm`, mlaudit.monitors.emf) and one dashboard per
model, all generated from the monitors file.

The topic exists before the functions (the monitors function's role names it); the rest is
wired once the function is built (`wire`)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct
from mlaudit import monitors as monitors_file
from mlaudit.monitors import Monitor
from mlaudit.monitors.emf import ALARM_METRIC, VALUE
from mlaudit.resources import service_name
from mlaudit.settings import Settings

INTERVAL = Duration.minutes(monitors_file.INTERVAL_MINUTES)


class Monitors(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, key: kms.IKey,
                 monitors: tuple[Monitor, ...] | None = None) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.monitors = monitors_file.load() if monitors is None else monitors
        # A monitor entering ALARM: the function's message (with the evaluation's audit event
        # id) and CloudWatch's alarm on the metric both arrive here.
        self.topic = sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True)
        if settings.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))
        self.alarms: dict[str, cw.Alarm] = {}
        self.dashboards: dict[str, cw.Dashboard] = {}

    def wire(self, function: lambda_.IFunction) -> None:
        self.schedule = events.Rule(
            self, "Schedule", description="Evaluate the monitors", schedule=events.Schedule.rate(INTERVAL),
            targets=[targets.LambdaFunction(function, retry_attempts=0, max_event_age=Duration.minutes(10))],
        )
        namespace, service = self.settings.name_prefix, service_name(self.settings.name_prefix, "monitors")
        for index, monitor in enumerate(self.monitors):
            dimensions = {"model_id": monitor.model_id, "monitor": monitor.name, "service": service}
            alarm = cw.Metric(
                namespace=namespace, metric_name=ALARM_METRIC, statistic="Maximum", period=INTERVAL,
                dimensions_map=dimensions,
            ).create_alarm(
                self, f"Alarm{index}", threshold=1, evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.MISSING,
                alarm_description=f"Monitor {monitor.name} of model {monitor.model_id} ({monitor.kind}) is "
                f"{monitor.direction} its threshold {monitor.threshold}.",
            )
            alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
            alarm.add_ok_action(cw_actions.SnsAction(self.topic))
            self.alarms[monitor.key] = alarm
        models = sorted({m.model_id for m in self.monitors})
        for index, model in enumerate(models):
            own = [m for m in self.monitors if m.model_id == model]
            self.dashboards[model] = cw.Dashboard(
                self, f"Dashboard{index}", default_interval=Duration.hours(24),
                widgets=[
                    [cw.GraphWidget(
                        title=f"{m.name} ({m.kind})", width=8,
                        left=[cw.Metric(namespace=namespace, metric_name=VALUE, statistic="Maximum",
                                        period=INTERVAL, label=m.name,
                                        dimensions_map={"model_id": m.model_id, "monitor": m.name,
                                                        "service": service})],
                        left_annotations=[cw.HorizontalAnnotation(value=m.threshold, label="threshold")],
                    ) for m in own[row:row + 3]]
                    for row in range(0, len(own), 3)
                ] + [[cw.AlarmStatusWidget(title=f"{model}: monitors", width=24,
                                           alarms=[self.alarms[m.key] for m in own])]],
            )
