"""Keys and stores: every store encrypted with the customer key, Object Lock and
lifecycle equal to the settings, TLS only, nothing public, data retained."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.infra.synth import Synth

KEY = "Storage/Key"


def key_arn(synth: Synth) -> dict:
    return {"Fn::GetAtt": [synth.logical_id(KEY), "Arn"]}


def test_customer_key_rotates_and_is_retained(synth: Synth) -> None:
    key = synth.resources[synth.logical_id(KEY)]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


def test_key_policy_lets_services_use_the_key_only_for_this_account(synth: Synth) -> None:
    statements = synth.resources[synth.logical_id(KEY)]["Properties"]["KeyPolicy"]["Statement"]
    services = [s for s in statements if "Service" in s["Principal"]]
    assert {s["Sid"] for s in services} == {"CloudWatchLogsInThisAccount", "CloudWatchAlarmsPublishToEncryptedTopic",
                                            "EventBridgeDeadLetters"}
    for statement in services:
        assert statement["Condition"], statement["Sid"]
        assert all("*" not in action for action in statement["Action"])


def test_audit_bucket_object_lock_equals_settings(synth: Synth) -> None:
    bucket = synth.resources[synth.logical_id("Storage/AuditBucket")]["Properties"]
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {
        "Mode": synth.settings.object_lock_mode,
        "Days": synth.settings.object_lock_days,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}


def test_audit_bucket_lifecycle_equals_settings(synth: Synth) -> None:
    s = synth.settings
    storage_class = s.archive_storage_class  # the settings use CloudFormation's names
    synth.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "ObjectLockEnabled": True,
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like(
                        {
                            "Status": "Enabled",
                            "Transitions": [{"StorageClass": storage_class, "TransitionInDays": s.archive_after_days}],
                            "NoncurrentVersionTransitions": [
                                {"StorageClass": storage_class, "TransitionInDays": s.noncurrent_archive_after_days}
                            ],
                            "ExpirationInDays": s.object_lock_days,
                            "NoncurrentVersionExpiration": {"NoncurrentDays": s.noncurrent_archive_after_days + 1},
                        }
                    )
                ]
            },
        },
    )


def test_audit_bucket_logs_to_the_log_bucket_which_keeps_them_for_its_own_retention(synth: Synth) -> None:
    logs_bucket = synth.logical_id("Storage/AccessLogs")
    synth.template.has_resource_properties(
        "AWS::S3::Bucket",
        {"ObjectLockEnabled": True, "LoggingConfiguration": {"DestinationBucketName": {"Ref": logs_bucket},
                                                             "LogFilePrefix": Match.any_value()}},
    )
    log_rules = synth.resources[logs_bucket]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert [r["ExpirationInDays"] for r in log_rules] == [synth.settings.access_log_retention_days]


def test_data_buckets_use_the_customer_key_with_a_bucket_key(synth: Synth) -> None:
    for path in ("Storage/AuditBucket", "Analytics/QueryResults"):
        (rule,) = synth.resources[synth.logical_id(path)]["Properties"]["BucketEncryption"][
            "ServerSideEncryptionConfiguration"
        ]
        assert rule == {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn(synth)},
        }, path


def test_every_bucket_is_encrypted_private_versioned_and_retained(synth: Synth) -> None:
    # The access log bucket is SSE-S3: S3 cannot deliver server access logs to SSE-KMS (see compliance.md).
    for logical_id, bucket in synth.of_type("AWS::S3::Bucket").items():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], logical_id
        assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
            ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
        )
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert bucket["DeletionPolicy"] == "Retain"


def test_every_bucket_policy_denies_requests_without_tls(synth: Synth) -> None:
    buckets = set(synth.of_type("AWS::S3::Bucket"))
    covered = set()
    for policy in synth.props("AWS::S3::BucketPolicy"):
        deny = [
            s for s in policy["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert deny and deny[0]["Action"] == "s3:*" and deny[0]["Principal"] == {"AWS": "*"}
        covered.add(policy["Bucket"]["Ref"])
    assert covered == buckets


def test_tables_use_the_customer_key_pitr_and_ttl(synth: Synth) -> None:
    tables = synth.of_type("AWS::DynamoDB::Table")
    assert len(tables) == 3
    for logical_id, table in tables.items():
        props = table["Properties"]
        assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn(synth)}
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
        assert table["DeletionPolicy"] == "Retain"
        # Subject keys never expire on their own: only an erasure removes one.
        ttl = {"AttributeName": "expires_at", "Enabled": True}
        assert props.get("TimeToLiveSpecification") == (
            None if logical_id == synth.logical_id("Storage/SubjectKeysTable") else ttl
        )


def test_queues_topic_and_log_groups_use_the_customer_key(synth: Synth) -> None:
    for queue in synth.props("AWS::SQS::Queue"):
        assert queue["KmsMasterKeyId"] == key_arn(synth)
    for topic in synth.props("AWS::SNS::Topic"):
        assert topic["KmsMasterKeyId"] == key_arn(synth)
    log_groups = synth.props("AWS::Logs::LogGroup")
    assert log_groups
    for group in log_groups:
        assert group["KmsKeyId"] == key_arn(synth)
        assert group["RetentionInDays"] == synth.settings.log_retention_days


def test_queue_and_sns_policies_require_tls(synth: Synth) -> None:
    for cfn_type in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
        for policy in synth.props(cfn_type):
            assert any(
                s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                for s in policy["PolicyDocument"]["Statement"]
            ), cfn_type
