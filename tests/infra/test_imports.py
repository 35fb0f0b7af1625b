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


def test_files_under_imports_go_to_the_import_function(synth: Synth) -> None:
    bucket_id = synth.logical_id("Imports/LandingBucket")
    function_id = synth.logical_id("Imports/Import/Function")
    (rule,) = [r for r in synth.props("AWS::Events::Rule") if "EventPattern" in r]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": bucket_id}]
    assert pattern["detail"]["object"]["key"] == [{"prefix": "imports/"}]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    function = synth.resources[function_id]["Properties"]
    assert function["Handler"] == "mlaudit.handlers.imports.handler"
    assert function["Environment"]["Variables"]["MLAUDIT_LANDING_BUCKET"] == {"Ref": bucket_id}
