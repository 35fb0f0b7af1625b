"""The local stack's usage counter (local/usage.py) on moto: what AWS bills each call by."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from local.usage import Usage, item_size, key_prefix, read_units, resource_label, write_units


def test_item_sizes_and_units_follow_dynamodb_rules() -> None:
    assert item_size({"pk": {"S": "abc"}}) == 2 + 3
    assert item_size({"n": {"N": "12345"}}) == 1 + 3 + 1  # a byte per two significant digits, plus one
    assert item_size({"b": {"B": b"\0" * 10}, "t": {"BOOL": True}}) == 1 + 10 + 1 + 1
    assert write_units(1) == 1 and write_units(1025) == 2
    assert read_units(4096, consistent=True) == 1 and read_units(4097, consistent=False) == 1


def test_key_prefixes_keep_the_kind_of_object_never_the_key() -> None:
    assert key_prefix("events/event_date=2026-11-20/event_type=prediction/ab12.parquet") == "events/"
    assert key_prefix("integrity/log/000000000012.json") == "integrity/log/"
    assert key_prefix("index/subjects/v1/runs/2026-11-20T10/ab.idx") == "index/subjects/v1/runs/"


@pytest.fixture
def counted(aws):
    usage = Usage()
    ddb = boto3.client("dynamodb")
    ddb.create_table(TableName="claims", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    usage.labels.update({"claims": "idempotency_table", "audit": "audit_bucket"})
    usage.admin_dynamodb = boto3.client("dynamodb")
    return usage, ddb


def test_a_write_is_billed_by_the_larger_item_and_a_failed_condition_too(counted) -> None:
    usage, admin = counted
    ddb = usage.guard("ingest", boto3.client("dynamodb"))
    big = {"pk": {"S": "event-1"}, "blob": {"S": "x" * 3000}}
    ddb.put_item(TableName="claims", Item=big)  # 3 KB: 3 write units
    with pytest.raises(ClientError):  # the same id again: the condition fails, the old item is 3 KB
        ddb.put_item(TableName="claims", Item={"pk": {"S": "event-1"}}, ConditionExpression="attribute_not_exists(pk)")
    ddb.get_item(TableName="claims", Key={"pk": {"S": "event-1"}}, ConsistentRead=True)
    (row,) = [r for r in usage.report()["calls"] if r["action"] == "PutItem"]
    assert (row["calls"], row["errors"], row["write_units"]) == (2, 1, 6.0)
    assert row["resource"] == "idempotency_table" and row["stored_bytes"] == item_size(big)
    (read,) = [r for r in usage.report()["calls"] if r["action"] == "GetItem"]
    assert read["read_units"] == 1.0


def test_s3_objects_and_sqs_chunks_are_counted(counted) -> None:
    usage, _ = counted
    s3 = usage.guard("writer", boto3.client("s3"))
    s3.create_bucket(Bucket="audit")
    parquet = "events/event_date=2026-11-20/event_type=prediction/a.parquet"
    s3.put_object(Bucket="audit", Key=parquet, Body=b"x" * 200_000)
    s3.put_object(Bucket="audit", Key="integrity/log/000000000001.json", Body=b"{}")
    sqs = usage.guard("ingest", boto3.client("sqs"))
    url = sqs.create_queue(QueueName="events")["QueueUrl"]
    usage.labels[url] = "events_queue"
    sqs.send_message(QueueUrl=url, MessageBody="y" * 150_000)  # three 64 KB chunks
    report = usage.report()
    assert report["objects"]["audit_bucket:events/"] == {"count": 1, "bytes": 200_000, "small_count": 0,
                                                         "small_bytes": 0}
    assert report["objects"]["audit_bucket:integrity/log/"]["small_count"] == 1
    (send,) = [r for r in report["calls"] if r["action"] == "SendMessage"]
    assert send["billed_requests"] == 3 and send["resource"] == "events_queue"


def test_invocations_count_their_thread_and_what_it_logged() -> None:
    usage = Usage()
    usage.start_logs()
    try:
        handler = usage.metered("checkpoint", lambda event, context: print('{"_aws": {"CloudWatchMetrics": ['
                                '{"Namespace": "mlaudit", "Dimensions": [["function"]], "Metrics": '
                                '[{"Name": "log_size"}]}]}, "function": "checkpoint", "log_size": 3}'), 256)
        handler({}, None)
        handler({}, None)
        print("not in an invocation")  # the stack's own output: nobody's bill
    finally:
        usage.stop_logs()
    report = usage.report()
    record = report["invocations"]["checkpoint"]
    assert (record["count"], record["memory_mb"], record["log_lines"], record["emf_documents"]) == (2, 256, 2, 2)
    assert report["metric_series"] == [["mlaudit", "log_size", {"function": "checkpoint"}]]


def test_the_writer_s_list_of_files_not_yet_logged_is_counted_apart_from_its_packs():
    # The cost table prices them per writer run and per recovery sweep, the packs per message
    labels = {"physical-ledger": "ledger_table"}
    minutes = {"RequestItems": {"physical-ledger": {"Keys": [{"pk": {"S": "files#2026-12-07T12:00:00+00:00"}}]}}}
    packs = {"RequestItems": {"physical-ledger": {"Keys": [{"pk": {"S": "pack#p-1"}}]}}}
    update = {"TableName": "physical-ledger", "Key": {"pk": {"S": "files#2026-12-07T12:01:00+00:00"}}}
    assert resource_label(labels, "dynamodb", minutes) == "ledger_table:files#"
    assert resource_label(labels, "dynamodb", update) == "ledger_table:files#"
    assert resource_label(labels, "dynamodb", packs) == "ledger_table"

