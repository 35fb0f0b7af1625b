"""The REST API: one method per route (`routes.ROUTES`), all but the public ones behind one
Lambda authorizer that accepts people's ID/access tokens and workloads' access tokens."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from aws_cdk import Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct
from mlaudit.api_gateway import BINARY_MEDIA_TYPES, CONTENT_HANDLING
from mlaudit.resources import api_name, waf_log_group_name
from mlaudit.routes import AUTHORIZER_CACHE_SECONDS, Route
from mlaudit.settings import Settings

from stacks.functions import log_retention

STAGE = "prod"
TLS_POLICY = "SecurityPolicy_TLS13_1_3_2025_09"

# One JSON object per request; never the body or headers (they may carry personal data).
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTimeEpoch",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "principal": "$context.authorizer.principalId",
    "method": "$context.httpMethod",
    "resource": "$context.resourcePath",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "responseLength": "$context.responseLength",
    "errorType": "$context.error.responseType",
    "authorizerError": "$context.authorizer.error",
    "integrationError": "$context.integration.error",
    "xrayTraceId": "$context.xrayTraceId",
}

# Gateway-made errors (bad token, throttled, invalid body) in the same shape as mlaudit.http.
ERROR_TEMPLATE = '{"error":"$context.error.responseType","message":$context.error.messageString}'


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        key: kms.IKey,
        authorizer_function: lambda_.IFunction,
        routes: Sequence[Route],
        handlers: Mapping[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        missing = {r.function for r in routes} - set(handlers)
        if missing:
            raise ValueError(f"routes name functions that were not built: {sorted(missing)}")

        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(settings.log_retention_days),
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            # Named by the deployment: two stacks in one account differ, in the console and
            # in the ApiName dimension of their metrics (alarms and dashboard).
            rest_api_name=api_name(settings.name_prefix),
            description="mlaudit: audit events in, proofs and queries out",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Every request body reaches its function as text, gzip decoded by API Gateway
            # (mlaudit.api_gateway; local/api.py does the same).
            binary_media_types=list(BINARY_MEDIA_TYPES) or None,
            # Access logging needs the account-level API Gateway CloudWatch role.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT)),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=settings.api_throttle_rate,
                throttling_burst_limit=settings.api_throttle_burst,
            ),
        )
        # TLS 1.3 only (the L2 construct has no property for it yet). STRICT access mode makes
        # API Gateway check that SNI and Host name this API, as enhanced policies require.
        cfn_api = self.rest_api.node.default_child
        assert isinstance(cfn_api, apigw.CfnRestApi)
        cfn_api.security_policy = TLS_POLICY
        cfn_api.endpoint_access_mode = "STRICT"
        for response_type in (apigw.ResponseType.DEFAULT_4_XX, apigw.ResponseType.DEFAULT_5_XX):
            self.rest_api.add_gateway_response(
                f"Gateway{response_type.response_type}",
                type=response_type,
                templates={"application/json": ERROR_TEMPLATE},
            )

        # The authorizer's policy covers every route the principal may call, so a
        # cached answer is right for any route (docs/permissions.md).
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "Authorizer",
            handler=authorizer_function,
            identity_sources=[apigw.IdentitySource.header("Authorization")],
            results_cache_ttl=Duration.seconds(AUTHORIZER_CACHE_SECONDS),
        )
        validator = self.rest_api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        # A first gate only: the handlers validate every field against their contracts.
        json_body = self.rest_api.add_model(
            "JsonBody",
            content_type="application/json",
            schema=apigw.JsonSchema(schema=apigw.JsonSchemaVersion.DRAFT4, type=apigw.JsonSchemaType.OBJECT),
        )
        for route in routes:
            resource = self.rest_api.root.resource_for_path(route.path)
            # A public route (the API's OpenAPI document) skips the authorizer; every other
            # method is behind it.
            resource.add_method(
                route.method,
                # No console test-invoke permission: Lambda permissions for the stage's methods only.
                apigw.LambdaIntegration(handlers[route.function], allow_test_invoke=False,
                                        content_handling=apigw.ContentHandling[CONTENT_HANDLING]),
                authorizer=None if route.public else self.authorizer,
                authorization_type=apigw.AuthorizationType.NONE if route.public else apigw.AuthorizationType.CUSTOM,
                request_validator=validator,
                # Only where the route's body must be a JSON object as sent (routes.Body.gateway_model).
                request_models={"application/json": json_body} if route.body and route.body.gateway_model else None,
            )

        self.stage = self.rest_api.deployment_stage
        if settings.waf_enabled:
            self.web_acl = _web_acl(self, settings=settings, key=key, stage=self.stage)


def _managed_rule(name: str, priority: int, count: tuple[str, ...] = ()) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS",
                name=name,
                rule_action_overrides=[
                    wafv2.CfnWebACL.RuleActionOverrideProperty(
                        name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                    )
                    for rule in count
                ]
                or None,
            )
        ),
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        visibility_config=_visibility(name),
    )


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _web_acl(scope: Construct, *, settings: Settings, key: kms.IKey, stage: apigw.Stage) -> wafv2.CfnWebACL:
    acl = wafv2.CfnWebACL(
        scope,
        "WebAcl",
        scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=_visibility(api_name(settings.name_prefix)),
        rules=[
            wafv2.CfnWebACL.RuleProperty(
                name="rate-limit-per-ip",
                priority=0,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=settings.waf_rate_limit_per_5min, aggregate_key_type="IP"
                    )
                ),
                visibility_config=_visibility("rate-limit-per-ip"),
            ),
            _managed_rule("AWSManagedRulesAmazonIpReputationList", 1),
            # Event batches are far larger than the common rule set's 8 KB body limit:
            # count those matches instead of blocking (the stage and handler bound the size).
            _managed_rule("AWSManagedRulesCommonRuleSet", 2, count=("SizeRestrictions_BODY",)),
            _managed_rule("AWSManagedRulesKnownBadInputsRuleSet", 3),
        ],
    )
    wafv2.CfnWebACLAssociation(
        scope, "WebAclAssociation", resource_arn=stage.stage_arn, web_acl_arn=acl.attr_arn
    )
    # WAF requires the log group name to start with "aws-waf-logs-". The group is retained, so
    # the name carries the stack's id (new on every create): a redeploy after a failed first
    # deploy does not stop on "already exists".
    stack = Stack.of(scope)
    log_group_name = waf_log_group_name(settings.name_prefix, Fn.select(2, Fn.split("/", stack.stack_id)))
    waf_logs = logs.LogGroup(
        scope,
        "WafLogs",
        log_group_name=log_group_name,
        retention=log_retention(settings.log_retention_days),
        encryption_key=key,
        removal_policy=RemovalPolicy.RETAIN,
    )
    # The logging destination is the log group ARN without the ":*" CloudFormation's Arn carries.
    destination = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:{log_group_name}"
    logging = wafv2.CfnLoggingConfiguration(
        scope, "WafLogging", resource_arn=acl.attr_arn, log_destination_configs=[destination]
    )
    logging.node.add_dependency(waf_logs)
    return acl
