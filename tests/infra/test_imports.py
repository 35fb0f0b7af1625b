"""Batch import on AWS: the landing bucket tells EventBridge of new files, a rule hands
files under imports/ to the import function, which may read only there and write only
its reports."""

from __future__ import annotations

from tests.infra.synth import Synth


def test_landing_bucket_is_encrypted_versioned_and_sends_events_to_eventbridge(synth: Synth) -> None:
    bucket = synth.resources[synth.logical_id("Imports/LandingBucket")]["Properties"]
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" and rule["BucketKeyEnabled"]
    assert bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True


def _landing_rule(synth: Synth) -> dict:
    """The rule on the landing bucket's events (capture's SageMaker rule is another)."""
    (rule,) = [r for r in synth.props("AWS::Events::Rule") if r.get("EventPattern", {}).get("source") == ["aws.s3"]]
    return rule


def test_files_under_imports_go_to_the_import_function(synth: Synth) -> None:
    bucket_id = synth.logical_id("Imports/LandingBucket")
    function_id = synth.logical_id("Imports/Import/Function")
    rule = _landing_rule(synth)
    pattern = rule["EventPattern"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": bucket_id}]
    assert {"prefix": "imports/"} in pattern["detail"]["object"]["key"]  # and captured sources' (test_capture_stack)
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    function = synth.resources[function_id]["Properties"]
    assert function["Handler"] == "mlaudit.handlers.imports.handler"
    assert function["Environment"]["Variables"]["MLAUDIT_LANDING_BUCKET"] == {"Ref": bucket_id}


def test_an_import_event_that_fails_goes_to_a_dead_letter_queue_with_an_alarm(synth: Synth) -> None:
    """EventBridge's undeliverable events and Lambda's failed ones (after its retries) both land
    in the imports dead-letter queue; its depth alarms on the operations topic."""
    queue_id = synth.logical_id("Imports/DeadLetterQueue")
    queue = synth.resources[queue_id]
    assert queue["DeletionPolicy"] == "Retain" and "KmsMasterKeyId" in queue["Properties"]
    (target,) = _landing_rule(synth)["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    function = synth.resources[synth.logical_id("Imports/Import/Function")]["Properties"]
    assert function["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    alarm = synth.resources[synth.logical_id("Monitoring/ImportsDeadLetterQueueNotEmpty")]["Properties"]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    assert alarm["AlarmActions"] == [{"Ref": synth.logical_id("Monitoring/AlarmTopic")}]
    outputs = synth.template.to_json()["Outputs"]
    assert outputs["ImportsDeadLetterQueueUrl"]["Value"] == {"Ref": queue_id}
