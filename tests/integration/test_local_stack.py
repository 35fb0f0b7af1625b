"""The local stack's front door and plumbing: the token endpoint, authentication and
permissions over real HTTP against `python -m local serve`, plus the API emulator
and the SQS -> writer poller with stand-in handlers (so these tests depend on no
handler's behaviour beyond auth)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from urllib.parse import urlsplit

import boto3
import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from mlaudit.routes import ROUTES

from local import client
from local.api import ApiEmulator
from local.oauth import moto_signing_key
from local.poller import WriterPoller

EVENTS = "/v1/events"
TOKEN = [("Authorization", "Bearer t")]


def _post_events(config, token=None, body=b"{}", **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    headers.setdefault("Content-Type", "application/json")
    return requests.post(config["api_url"] + EVENTS, data=body, headers=headers, timeout=30)


def _claims(config, **overrides):
    now = int(time.time())
    client_id = config["machine_client"]["client_id"]
    return {
        "sub": client_id, "client_id": client_id, "token_use": "access", "iss": config["issuer"],
        "scope": "mlaudit/events.write", "iat": now, "exp": now + 600, **overrides,
    }


# Token endpoint


def test_token_endpoint_issues_token_that_verifies_against_the_pool_jwks(local_stack):
    # Given the machine client's credentials
    token = client.machine_token(local_stack)
    # Then the token's signature checks out against moto's published JWKS
    key = jwt.PyJWKClient(local_stack["jwks_url"]).get_signing_key_from_jwt(token).key
    claims = jwt.decode(token, key, algorithms=["RS256"], issuer=local_stack["issuer"])
    assert claims["token_use"] == "access"
    assert claims["sub"] == claims["client_id"] == local_stack["machine_client"]["client_id"]
    assert set(claims["scope"].split()) == set(local_stack["machine_client"]["scopes"])


def test_token_endpoint_accepts_credentials_in_the_form_and_narrows_scope(local_stack):
    machine = local_stack["machine_client"]
    response = requests.post(local_stack["token_url"], timeout=10, data={
        "grant_type": "client_credentials", "scope": "mlaudit/events.read",
        "client_id": machine["client_id"], "client_secret": machine["client_secret"],
    })
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "mlaudit/events.read"


@pytest.mark.parametrize(
    ("auth", "form", "status", "error"),
    [
        ("bad-secret", {"grant_type": "client_credentials"}, 401, "invalid_client"),
        ("unknown-client", {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (None, {"grant_type": "client_credentials"}, 401, "invalid_client"),
        ("good", {"grant_type": "client_credentials", "scope": "mlaudit/admin.all"}, 400, "invalid_scope"),
        ("good", {"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
def test_token_endpoint_refusals(local_stack, auth, form, status, error):
    machine = local_stack["machine_client"]
    credentials = {
        "good": (machine["client_id"], machine["client_secret"]),
        "bad-secret": (machine["client_id"], "wrong-secret"),
        "unknown-client": ("nosuchclient", machine["client_secret"]),
        None: None,
    }[auth]
    response = requests.post(local_stack["token_url"], data=form, auth=credentials, timeout=10)
    assert response.status_code == status
    assert response.json() == {"error": error}


# Authentication (401) and permissions (403) in front of POST /v1/events


def test_missing_token_is_401(local_stack):
    response = _post_events(local_stack)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_token_signed_with_another_key_is_401(local_stack):
    # Same kid and claims as a real token, but not moto's key
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_claims(local_stack), other, algorithm="RS256", headers={"kid": "dummy"})
    assert _post_events(local_stack, forged).status_code == 401


def test_expired_token_is_401(local_stack):
    key, kid = moto_signing_key()  # a genuine signature: only the expiry is wrong
    past = int(time.time()) - 7200
    expired = jwt.encode(_claims(local_stack, iat=past, exp=past + 3600), key, algorithm="RS256",
                         headers={"kid": kid})
    assert _post_events(local_stack, expired).status_code == 401


def test_token_from_another_pool_is_401(local_stack):
    key, kid = moto_signing_key()  # moto signs every pool with one key: the issuer tells them apart
    other_pool = jwt.encode(
        _claims(local_stack, iss=local_stack["issuer"].rsplit("/", 1)[0] + "/us-east-1_other"),
        key, algorithm="RS256", headers={"kid": kid},
    )
    assert _post_events(local_stack, other_pool).status_code == 401


def test_token_without_a_write_scope_is_403(local_stack, machine_token):
    response = _post_events(local_stack, machine_token(["events.read"]))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


@pytest.mark.parametrize("kind", ["id_token", "access_token"])
def test_person_cannot_send_events(local_stack, user_tokens, kind):
    # An auditor is a valid person, but events come from workloads only
    assert _post_events(local_stack, user_tokens("auditor")[kind]).status_code == 403


@pytest.mark.parametrize("scope", ["events.write", "lineage.write"])
def test_write_scope_reaches_the_ingest_handler(local_stack, machine_token, scope):
    # Past the authorizer: whatever ingest answers, it is not an auth refusal
    response = _post_events(local_stack, machine_token([scope]), body=b'{"events": []}')
    assert response.status_code not in (401, 403, 404, 405)
    assert response.status_code < 500


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_answers_every_principal_by_the_matrix(local_stack, principal_tokens, route):
    path = re.sub(r"\{[^}]+\}", "ref-1", route.path)
    for name, token in principal_tokens.items():
        headers = {"Content-Type": "application/json", **(client.bearer(token) if token else {})}
        response = requests.request(route.method, local_stack["api_url"] + path, data=b"{}",
                                    headers=headers, timeout=30)
        if route.public:  # no authorizer: every caller, with a token or not, reaches it
            assert response.status_code == 200, name
            continue
        if name in ("none", "expired"):
            assert response.status_code == 401, name
            continue
        # The matrix straight from the routes table: workloads by scope, people by role
        kind, value = name.split(":")[:2]
        if value in (route.scopes if kind == "scope" else route.roles):
            assert response.status_code not in (401, 403), name  # reached the handler
        else:
            assert response.status_code == 403, name


def test_unknown_path_is_404_and_wrong_method_405(local_stack, machine_token):
    headers = client.bearer(machine_token())
    unknown = requests.get(local_stack["api_url"] + "/v1/nothing", headers=headers, timeout=10)
    wrong_method = requests.get(local_stack["api_url"] + EVENTS, headers=headers, timeout=10)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["error"]) == (405, "method_not_allowed")


def test_body_over_api_gateway_limit_is_413_without_reading_it(local_stack):
    url = urlsplit(local_stack["api_url"])
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            f"POST {url.path}{EVENTS} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {10 * 1024 * 1024 + 1}\r\n\r\n".encode()
        )
        status_line = sock.makefile("rb").readline().decode()
    assert status_line.split()[1] == "413"


# The API emulator with stand-in functions: what API Gateway would do


def _emulator(functions):
    return ApiEmulator(
        region="us-east-1", account_id="123456789012", stage="local", api_id="abc123",
        function_timeouts={"ingest": 15}, load_handler=lambda name: functions[name],
    )


def _allow(resource):
    def authorizer(event, context):
        return {
            "principalId": "client-1",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [resource]}]},
            "context": {"principal_kind": "workload", "actor_id": "client-1", "client_id": "client-1",
                        "roles": "", "scopes": "events.write"},
        }

    return authorizer


def test_emulator_builds_a_rest_proxy_event_with_the_authorizer_context():
    seen = {}

    def ingest(event, context):
        seen.update(event=event, remaining=context.get_remaining_time_in_millis())
        return {"statusCode": 202, "headers": {"X-Test": "1"}, "body": '{"ok":true}'}

    method_arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/local/POST/v1/events"
    api = _emulator({"authorizer": _allow(method_arn), "ingest": ingest})
    response = api.handle(
        "POST", "/local/v1/events?dry=1", [("Authorization", "Bearer t"), ("User-Agent", "ua/1")],
        b'{"a":1}', "10.1.2.3",
    )
    assert (response.status, response.body, response.headers["X-Test"]) == (202, b'{"ok":true}', "1")
    event = seen["event"]
    assert event["resource"] == "/v1/events" and event["path"] == "/v1/events"
    assert event["httpMethod"] == "POST" and event["body"] == '{"a":1}' and event["isBase64Encoded"] is False
    assert event["queryStringParameters"] == {"dry": "1"}
    assert event["requestContext"]["identity"] == {"sourceIp": "10.1.2.3", "userAgent": "ua/1"}
    assert event["requestContext"]["authorizer"]["actor_id"] == "client-1"
    assert event["requestContext"]["authorizer"]["principalId"] == "client-1"
    assert 0 < seen["remaining"] <= 15_000


def test_emulator_maps_authorizer_outcomes_like_api_gateway():
    def unauthorized(event, context):
        raise Exception("Unauthorized")

    def broken(event, context):
        raise RuntimeError("boom")

    def crash(event, context):
        raise RuntimeError("handler bug")

    other_route = _allow("arn:aws:execute-api:us-east-1:123456789012:abc123/local/GET/v1/other")
    wildcard = _allow("arn:aws:execute-api:us-east-1:123456789012:abc123/local/*/*")
    cases = [(unauthorized, 401), (broken, 500), (other_route, 403), (wildcard, 502)]
    for authorizer, status in cases:
        api = _emulator({"authorizer": authorizer, "ingest": crash})
        assert api.handle("POST", "/local/v1/events", TOKEN, b"{}", "127.0.0.1").status == status
    # No Authorization header at all: API Gateway answers 401 without calling the authorizer
    api = _emulator({"authorizer": broken, "ingest": crash})
    assert api.handle("POST", "/local/v1/events", [], b"{}", "127.0.0.1").status == 401


def test_emulator_caches_the_policy_per_token_like_api_gateway():
    # (Hence the authorizer allows every route the principal may call, not just this one.)
    calls = []
    allow = _allow("arn:aws:execute-api:us-east-1:123456789012:abc123/local/POST/v1/events")

    def authorizer(event, context):
        calls.append(event["methodArn"])
        return allow(event, context)

    api = _emulator({"authorizer": authorizer, "ingest": lambda e, c: {"statusCode": 202, "body": ""}})
    for _ in range(3):
        assert api.handle("POST", "/local/v1/events", TOKEN, b"{}", "127.0.0.1").status == 202
    assert len(calls) == 1
    # Another token is another cache entry
    other = [("Authorization", "Bearer other")]
    assert api.handle("POST", "/local/v1/events", other, b"{}", "::1").status == 202
    assert len(calls) == 2


# The SQS -> writer poller with a stand-in writer, on moto in-process


@pytest.fixture
def queues(aws):
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName="events", Attributes={
        "VisibilityTimeout": "1",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
    })["QueueUrl"]
    return sqs, queue, dlq


def _poller(sqs, queue, writer, batch_size=100):
    return WriterPoller(
        sqs, queue_url=queue, queue_arn="arn:aws:sqs:us-east-1:123456789012:events", region="us-east-1",
        batch_size=batch_size, window_seconds=0.5, timeout_seconds=30, load_handler=lambda: writer,
    )


def _count(sqs, url):
    return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
               ["Attributes"]["ApproximateNumberOfMessages"])


def test_poller_batches_reports_partial_failures_and_redrives_poison(queues):
    sqs, queue, dlq = queues
    batches = []
    lock = threading.Lock()

    def writer(event, context):
        with lock:
            batches.append(event["Records"])
        failed = [r["messageId"] for r in event["Records"] if r["body"] == "poison"]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}

    # Given 25 good messages and one that can never be written
    for i in range(25):
        sqs.send_message(QueueUrl=queue, MessageBody=f"m{i}",
                         MessageAttributes={"pack": {"DataType": "String", "StringValue": f"p{i}"}})
    sqs.send_message(QueueUrl=queue, MessageBody="poison")
    poller = _poller(sqs, queue, writer).start()
    try:
        # Then everything drains: good messages written once, the poison one in the DLQ
        assert poller.wait_drained(timeout=300)
    finally:
        poller.stop()
    bodies = [r["body"] for batch in batches for r in batch]
    assert sorted(b for b in bodies if b != "poison") == sorted(f"m{i}" for i in range(25))
    assert bodies.count("poison") == 2  # maxReceiveCount receives, then moto's redrive
    assert _count(sqs, dlq) == 1
    first = batches[0][0]
    assert first["eventSource"] == "aws:sqs" and first["awsRegion"] == "us-east-1"
    assert first["messageAttributes"]["pack"]["stringValue"].startswith("p")
    assert int(first["attributes"]["ApproximateReceiveCount"]) >= 1
    assert max(len(batch) for batch in batches) > 10  # batches beyond one ReceiveMessage call


def test_poller_deletes_nothing_when_the_writer_raises(queues):
    sqs, queue, _ = queues
    calls = []

    def writer(event, context):
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            raise RuntimeError("writer down")
        return {"batchItemFailures": []}

    for i in range(3):
        sqs.send_message(QueueUrl=queue, MessageBody=f"m{i}")
    poller = _poller(sqs, queue, writer).start()
    try:
        assert poller.wait_drained(timeout=300)
    finally:
        poller.stop()
    # The failed batch came back whole after the visibility timeout and was written then
    assert calls[:2] == [3, 3]
    assert poller.stats.handler_errors == 1 and poller.stats.messages_deleted == 3
