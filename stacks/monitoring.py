"""Monitoring: alarms that page someone when events stop flowing or pile up, an
encrypted SNS topic for them, one dashboard of the pipeline and one of the models.

The models' dashboard reads the business metrics the functions emit as EMF
(mlaudit.metrics): per model id and version, through CloudWatch SEARCH expressions, so a
new model appears without a deploy (their dimensions are bounded: at most 50 models a
function instance, the rest under "other"). docs/monitoring.md lists every metric."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from mlaudit.resources import service_name
from mlaudit.settings import Settings

PERIOD = Duration.minutes(5)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        key: kms.IKey,
        rest_api: apigw.RestApi,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        imports_dead_letter_queue: sqs.IQueue,
        functions: Mapping[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        # Its policy lets CloudWatch alarms publish (mlaudit.resource_policies): a topic policy
        # replaces SNS's default one.
        self.topic = sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True)
        if settings.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))
        self.alarms: list[cw.Alarm] = []

        dlq_depth = dead_letter_queue.metric_approximate_number_of_messages_visible
        self._alarm(
            "DeadLetterQueueNotEmpty",
            dlq_depth(period=PERIOD, statistic="Maximum"),
            threshold=0,
            description="Events the writer could not store are waiting in the DLQ: inspect, fix, redrive.",
        )
        self._alarm(
            "ImportsDeadLetterQueueNotEmpty",
            imports_dead_letter_queue.metric_approximate_number_of_messages_visible(period=PERIOD,
                                                                                     statistic="Maximum"),
            threshold=0,
            description="A landed file's event could not be delivered to, or imported by, the import function: "
            "read it from the imports dead-letter queue, fix the cause, drop the file again (docs/deploy.md).",
        )
        self._alarm(
            "WriterFallingBehind",
            queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
            threshold=settings.writer_max_message_age_seconds,
            description="The oldest queued event is older than writer_max_message_age_seconds.",
        )
        self._alarm(
            "Api5xx",
            rest_api.metric_server_error(period=PERIOD, statistic="Sum"),
            threshold=0,
            description="The API answered 5xx.",
        )
        self._alarm(
            "ApiLatencyP99",
            rest_api.metric_latency(period=PERIOD, statistic="p99"),
            threshold=settings.api_p99_latency_ms,
            description="API p99 latency is above api_p99_latency_ms.",
        )
        for name, function in sorted(functions.items()):
            self._alarm(
                f"{name.capitalize()}Errors",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                threshold=0,
                description=f"The {name} function failed.",
            )
            self._alarm(
                f"{name.capitalize()}Throttles",
                function.metric_throttles(period=PERIOD, statistic="Sum"),
                threshold=0,
                description=f"The {name} function was throttled.",
            )

        namespace = settings.name_prefix  # POWERTOOLS_METRICS_NAMESPACE (stacks/functions.py)
        # The signer reports every run; none for three intervals means checkpoints stopped.
        signer_runs = cw.Metric(
            namespace=namespace, metric_name="log_size", statistic="SampleCount",
            period=Duration.minutes(3 * settings.checkpoint_interval_minutes),
            dimensions_map={"function": "checkpoint", "service": service_name(settings.name_prefix, "checkpoint")},
        )
        signer_alarm = signer_runs.create_alarm(
            self, "SignerSilent", threshold=1, evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.BREACHING,
            alarm_description="No checkpoint was signed for three intervals: receipts and the witness go stale.",
        )
        signer_alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        signer_alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(signer_alarm)
        self.models_dashboard = cw.Dashboard(
            self, "ModelsDashboard", default_interval=Duration.hours(24),
            widgets=_model_widgets(namespace, settings.name_prefix),
        )

        self.dashboard = cw.Dashboard(
            self,
            "Dashboard",
            default_interval=Duration.hours(6),
            widgets=[
                [
                    _graph("API requests and errors", rest_api.metric_count(), rest_api.metric_client_error(),
                           rest_api.metric_server_error()),
                    _graph("API latency (p50, p99)", rest_api.metric_latency(statistic="p50"),
                           rest_api.metric_latency(statistic="p99")),
                ],
                [
                    _graph(
                        "Queue: visible and in flight",
                        queue.metric_approximate_number_of_messages_visible(),
                        queue.metric_approximate_number_of_messages_not_visible(),
                    ),
                    _graph("Queue: oldest message (s)", queue.metric_approximate_age_of_oldest_message()),
                    _graph("DLQ depth", dlq_depth()),
                ],
                [
                    _graph(f"{name}: invocations, errors, throttles",
                           f.metric_invocations(), f.metric_errors(), f.metric_throttles())
                    for name, f in sorted(functions.items())
                ],
                [
                    _graph(f"{name}: duration p99 (ms)", f.metric_duration(statistic="p99"))
                    for name, f in sorted(functions.items())
                ],
                [cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24)],
            ],
        )

    def _alarm(self, construct_id: str, metric: cw.Metric, *, threshold: float, description: str) -> None:
        alarm = metric.create_alarm(
            self,
            construct_id,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)


def _graph(title: str, *metrics: cw.IMetric) -> cw.GraphWidget:
    return cw.GraphWidget(title=title, left=list(metrics), width=8)


def _search(namespace: str, dimensions: str, metric: str, statistic: str, label: str) -> cw.MathExpression:
    return cw.MathExpression(
        expression=f"SEARCH('{{{namespace},{dimensions}}} MetricName=\"{metric}\"', '{statistic}', 300)",
        using_metrics={}, label=label, period=PERIOD,
    )


def _model_widgets(namespace: str, prefix: str) -> list[list[cw.IWidget]]:
    """Per model (id, version): volume, latency, DQ, score distribution; the writer and the signer."""
    model = "model_id,model_version,service"
    return [
        [
            cw.GraphWidget(title="Predictions per model", width=8,
                           left=[_search(namespace, model, "predictions", "Sum", "")]),
            cw.GraphWidget(title="Prediction latency p99 per model (ms)", width=8,
                           left=[_search(namespace, model, "prediction_latency_ms", "p99", "")]),
            cw.GraphWidget(title="Refused events by rule", width=8,
                           left=[_search(namespace, "reason,service", "rejected_events", "Sum", "")]),
        ],
        [
            cw.GraphWidget(title="DQ violations per model and rule", width=12,
                           left=[_search(namespace, "model_id,model_version,rule_id,service", "dq_violations",
                                         "Sum", "")]),
            cw.GraphWidget(title="Score distribution (all models, ten bins over [0, 1])", width=12, stacked=True,
                           left=[_search(namespace, model, f"score_bin_{i:02d}", "Sum", f"[{i / 10:.1f}, "
                                         f"{(i + 1) / 10:.1f})") for i in range(10)]),
        ],
        [
            cw.GraphWidget(title="Writer: events written, lag p99 (ms)", width=12,
                           left=[_search(namespace, "function,service", "events_written", "Sum", "events")],
                           right=[_search(namespace, "function,service", "write_lag_ms", "p99", "lag p99")]),
            cw.GraphWidget(title="Signer: checkpoint age reached (s)", width=12,
                           left=[_search(namespace, "function,service", "checkpoint_age_seconds", "Maximum",
                                         "age")]),
        ],
    ]
