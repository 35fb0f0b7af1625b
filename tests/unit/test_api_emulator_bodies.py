"""The API emulator hands a function the body API Gateway would, under the API's explicit
configuration (mlaudit.api_gateway: no binary media types, CONVERT_TO_TEXT): a gzip or
deflate body decoded before anything else (415 when it is not what it claims, or another
coding), the Content-Encoding header passed on unchanged, every body as text; and the
ingest handler reads what it is given right (tests/integration/test_iam_enforced.py sends
OpenLineage's gzip through the whole stack)."""

from __future__ import annotations

import gzip
import json
import zlib

from mlaudit.ingest.request import decode_body

from local.api import ApiEmulator

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/local/POST/v1/lineage"
TOKEN = [("Authorization", "Bearer t"), ("Content-Type", "application/json")]


def _emulator(seen: dict, may_invoke=None) -> ApiEmulator:
    def authorizer(event, context):
        return {"principalId": "c", "context": {},
                "policyDocument": {"Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow",
                                                  "Resource": [METHOD_ARN]}]}}

    def ingest(event, context):
        seen["event"] = event
        return {"statusCode": 201, "headers": {}, "body": ""}

    return ApiEmulator(region="us-east-1", account_id="123456789012", stage="local", api_id="abc123",
                       function_timeouts={"ingest": 15}, load_handler={"authorizer": authorizer,
                                                                       "ingest": ingest}.__getitem__,
                       may_invoke=may_invoke)


def test_a_gzip_body_reaches_the_function_decoded_as_text_with_its_header() -> None:
    seen: dict = {}
    body = json.dumps({"eventType": "COMPLETE", "name": "é"}).encode()
    answer = _emulator(seen).handle("POST", "/local/v1/lineage", [*TOKEN, ("Content-Encoding", "gzip")],
                                    gzip.compress(body), "127.0.0.1")
    assert answer.status == 201
    event = seen["event"]
    assert event["body"] == body.decode() and event["isBase64Encoded"] is False
    assert event["headers"]["Content-Encoding"] == "gzip"  # passed on as sent
    # What the handler does with it: the body as it came (no second inflate).
    assert decode_body(event["body"].encode(), event["headers"]["Content-Encoding"], 10_000) == body


def test_deflate_and_identity_are_decoded_too() -> None:
    seen: dict = {}
    body = b'{"a": 1}'
    for coding, sent in (("deflate", zlib.compress(body)), ("identity", body), ("gzip, identity", gzip.compress(body))):
        assert _emulator(seen).handle("POST", "/local/v1/lineage", [*TOKEN, ("Content-Encoding", coding)], sent,
                                      "127.0.0.1").status == 201, coding
        assert seen.pop("event")["body"] == body.decode()


def test_a_body_that_is_not_what_it_claims_or_another_coding_is_415_before_the_function() -> None:
    seen: dict = {}
    for coding, sent in (("gzip", b'{"a": 1}'), ("gzip", gzip.compress(b"{}")[:10]), ("br", b"\x0b\x02"),
                         ("deflate", b"not deflate")):
        answer = _emulator(seen).handle("POST", "/local/v1/lineage", [*TOKEN, ("Content-Encoding", coding)], sent,
                                        "127.0.0.1")
        assert answer.status == 415 and json.loads(answer.body)["error"] == "unsupported_media_type", coding
    assert seen == {}
    # Even on a path that does not exist: API Gateway decodes before it knows the route.
    assert _emulator(seen).handle("POST", "/local/nowhere", [("Content-Encoding", "br")], b"x", "1.2.3.4").status == 415


def test_a_body_that_is_not_utf8_is_text_with_replacement_characters() -> None:
    seen: dict = {}
    _emulator(seen).handle("POST", "/local/v1/lineage", TOKEN, b'{"name": "caf\xe9"}', "127.0.0.1")
    assert seen["event"]["body"] == '{"name": "caf\ufffd"}' and seen["event"]["isBase64Encoded"] is False


def test_a_function_without_api_gateways_permission_is_a_500() -> None:
    seen: dict = {}
    asked = []

    def may_invoke(function: str, source: str) -> bool:
        asked.append((function, source))
        return function != "ingest"

    answer = _emulator(seen, may_invoke).handle("POST", "/local/v1/lineage", TOKEN, b"{}", "127.0.0.1")
    assert answer.status == 500 and seen == {}
    assert asked == [("authorizer", "arn:aws:execute-api:us-east-1:123456789012:abc123/authorizers/local-authorizer"),
                     ("ingest", METHOD_ARN)]
