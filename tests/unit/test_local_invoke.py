"""Lambda's Invoke API on the local stack (local/invoke.py): boto3's own invoke call runs a
declared function's handler, its answer or its error as Lambda gives them."""

from __future__ import annotations

import json

import boto3
import pytest

from local.httpd import BackgroundServer
from local.invoke import Invoker, handler_class


def _handlers(name):
    def ok(event, context):
        return {"function": context.function_name, "event": event, "left_ms": context.get_remaining_time_in_millis()}

    def fails(event, context):
        raise RuntimeError("no closed day")

    return {"compaction": ok, "checkpoint": fails}[name]


@pytest.fixture
def lambda_client():
    invoker = Invoker("mlaudit", {"compaction": 900, "checkpoint": 60}.get, region="us-east-1",
                      account_id="123456789012", load_handler=_handlers)
    server = BackgroundServer(handler_class(invoker), "lambda").start()
    try:
        yield boto3.client("lambda", region_name="us-east-1", endpoint_url=server.url, aws_access_key_id="x",
                           aws_secret_access_key="x")  # noqa: S106 - local fake credentials
    finally:
        server.stop()


def test_a_declared_function_answers_by_name_or_arn(lambda_client):
    for name in ("mlaudit-compaction", "arn:aws:lambda:us-east-1:123456789012:function:mlaudit-compaction"):
        answer = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"every": True}).encode())
        body = json.loads(answer["Payload"].read())
        assert answer["StatusCode"] == 200 and "FunctionError" not in answer
        assert body["function"] == "mlaudit-compaction" and body["event"] == {"every": True}
        assert 0 < body["left_ms"] <= 900_000  # the function's own timeout


def test_an_error_is_answered_as_lambda_answers_it(lambda_client):
    answer = lambda_client.invoke(FunctionName="mlaudit-checkpoint", Payload=b"{}")
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read()) == {"errorType": "RuntimeError", "errorMessage": "no closed day"}


def test_an_undeclared_function_is_not_found(lambda_client):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="mlaudit-nothing", Payload=b"{}")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="compaction", Payload=b"{}")  # not the stack's name
