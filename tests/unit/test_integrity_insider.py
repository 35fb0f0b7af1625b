"""Attacks by someone with access (issue #15), on moto S3 and KMS: what each leaves
behind, and that the signer and the verifier catch it. The attacker's tools are plain
S3 calls: PutObject (the writer role has it) and DeleteObject without a version id
(Object Lock allows delete markers); they have no kms:Sign on the entry or checkpoint keys."""

from __future__ import annotations

import boto3
import pytest
from mlaudit.adapters.bucket import S3Bucket
from mlaudit.integrity.primitives import records
from mlaudit.integrity.primitives.signing import (
    KmsSigner,
    LocalSigner,
    entry_authentic,
    kms_public_key_pem,
    load_public_key,
)
from mlaudit.integrity.services.checkpoint import (
    ChainRestarted,
    Checkpointer,
    SignedCheckpoint,
    UnauthenticatedEntry,
    latest_checkpoint,
    load_checkpoint,
)
from mlaudit.integrity.services.witness import Witness
from mlaudit.integrity.verifier import Verifier
from mlaudit.integrity.verifier.versions import S3History

from tests.unit.test_integrity_support import Lake, parquet_file

AUDIT, WITNESS, COPY = "audit", "witness", "audit-copy"
LOG_ID = records.log_id(AUDIT)
MALLORY = LocalSigner.generate("mallory")  # a key the attacker made: not the writer's


def _bucket(s3, name: str, mode: str = "GOVERNANCE") -> None:
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled",
                                 "Rule": {"DefaultRetention": {"Mode": mode, "Days": 1}}},
    )


class World:
    """The audit bucket, the witness bucket (COMPLIANCE), the two KMS keys, a lake of four
    files signed twice, all as the stack builds them."""

    def __init__(self) -> None:
        self.s3, kms = boto3.client("s3"), boto3.client("kms")
        _bucket(self.s3, AUDIT)
        _bucket(self.s3, WITNESS, "COMPLIANCE")
        signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_3072")["KeyMetadata"]["KeyId"]
        entry = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
        self.signer, self.entry_signer = KmsSigner(kms, signing), KmsSigner(kms, entry)
        self.public_key = load_public_key(kms_public_key_pem(kms, signing))
        self.entry_key = load_public_key(kms_public_key_pem(kms, entry))
        self.store = S3Bucket(self.s3, AUDIT)
        self.witness = Witness(S3Bucket(self.s3, WITNESS), LOG_ID)
        self.lake = Lake(self.store, self.signer, entry_signer=self.entry_signer, entry_key=self.entry_key,
                         witness=self.witness, log_id=LOG_ID)

    def checkpointer(self, *, witness: bool = True) -> Checkpointer:
        """A signer starting cold (a new container), as the checkpoint function builds it."""
        return Checkpointer(self.store, self.signer, log_id=LOG_ID, clock=self.lake.clock, entry_key=self.entry_key,
                            witness=self.witness if witness else None)

    def verify(self, bucket: str = AUDIT, *, witness: bool = True, **kwargs):
        log_id = records.log_id(bucket)
        return Verifier(
            S3Bucket(self.s3, bucket), self.public_key, jobs=1, log_id=log_id, entry_key=self.entry_key,
            witness=Witness(S3Bucket(self.s3, WITNESS), log_id) if witness else None,
            history=S3History(self.s3, bucket), **kwargs,
        ).run()

    def put(self, key: str, body: bytes) -> None:
        """A plain PutObject (no If-None-Match): what S3 write access alone allows."""
        self.s3.put_object(Bucket=AUDIT, Key=key, Body=body)

    def entry(self, index: int) -> dict:
        return records.decode(self.store.get(records.log_key(index)), "entry")


@pytest.fixture
def world(aws):
    return World()


def test_an_untouched_lake_verifies_with_the_witness_and_every_entry_is_the_writers(world):
    report = world.verify()
    assert report.ok, report.text()
    assert all(entry_authentic(world.entry_key, world.entry(i)) for i in range(report.log_size))
    # Each checkpoint is in the witness, byte for byte.
    assert [c.encode() for c in world.witness.all()] == [
        load_checkpoint(world.store, seq).encode() for seq in (0, 1, 2)
    ]
    assert world.witness.load(0).body["tree_size"] == 0  # the chain starts over the empty log


def _forge_file(world: World, signer=None) -> int:
    """Attack 1: a Parquet file of invented events, its manifest, log entry n with the right
    prev and its log-by-file record, written by hand."""
    events = [dict(e, event_id=f"forged-{i}", prediction_label="approved")
              for i, e in enumerate(world.lake.events[world.lake.keys[0]])]
    key = "events/event_date=2026-11-26/event_type=prediction/forged.parquet"
    body = parquet_file(events)
    leaves = [bytes.fromhex(e["leaf_hash"]) for e in events]
    manifest = records.encode(records.manifest(
        object_key=key, object_sha256=records.sha256_hex(body), record_count=len(events),
        merkle_root=records.merkle.root(leaves).hex(), first_event_id="forged-0", last_event_id=events[-1]["event_id"],
    ))
    n = world.lake.sink.log.size()
    entry = records.log_entry(
        log_id=LOG_ID, index=n, prev=records.entry_leaf(world.store.get(records.log_key(n - 1))).hex(), object_key=key,
        object_sha256=records.sha256_hex(body), record_count=len(events),
        merkle_root=records.merkle.root(leaves).hex(), manifest_sha256=records.sha256_hex(manifest),
        appended_at="2026-11-26T09:00:00.000Z",
    )
    if signer is not None:
        entry = records.sign_entry(signer, entry)
    for k, v in ((key, body), (records.manifest_key(key), manifest), (records.log_key(n), records.encode(entry)),
                 (records.log_by_file_key(key), records.encode({"index": n}))):
        world.put(k, v)
    return n


@pytest.mark.parametrize("signer", [None, MALLORY], ids=["unsigned", "signed-with-another-key"])
def test_a_forged_file_is_refused_by_the_signer_and_reported_by_the_verifier(world, signer):
    n = _forge_file(world, signer)
    # The signer signs the authenticated prefix, then refuses the forged entry (the run fails: alarm).
    with pytest.raises(UnauthenticatedEntry, match=f"log entry {n} is not signed with the writer's entry key"):
        world.checkpointer().run()
    latest = latest_checkpoint(world.store)
    assert latest.body["tree_size"] == n and world.witness.latest().body == latest.body
    # Nothing the writer appends after it is ever signed: it chains onto the forged entry.
    world.lake.add_file("2026-11-27", "prediction", 2, name="after")
    with pytest.raises(UnauthenticatedEntry):
        world.checkpointer().run()
    assert latest_checkpoint(world.store).body["tree_size"] == n
    report = world.verify()
    assert ("log_entry_unauthenticated", f"log index {n} ({records.log_key(n)})") in {
        (p.kind, p.where) for p in report.problems
    }
    assert not {p.where for p in report.problems if p.kind == "log_entry_unauthenticated"} - {
        f"log index {n} ({records.log_key(n)})"
    }, "the writer's own later entry is authentic"


def _rewrite_history(world: World) -> None:
    """Attack 2: change a value of an already-signed event, rewrite its leaf, root, manifest
    and log entry, re-chain every later entry, then DeleteObject (no version id) every
    checkpoint and log-leaves segment."""
    key = world.lake.keys[0]
    events = [dict(e) for e in world.lake.events[key]]
    events[1]["prediction_label"] = "approved"
    from mlaudit import leaf

    events[1]["leaf_hash"] = leaf.leaf_hash({k: v for k, v in events[1].items() if k != "leaf_hash"})
    body = parquet_file(events)
    leaves = [bytes.fromhex(e["leaf_hash"]) for e in events]
    root = records.merkle.root(leaves).hex()
    manifest = records.decode(world.store.get(records.manifest_key(key)), "manifest")
    manifest.update(object_sha256=records.sha256_hex(body), merkle_root=root)
    world.put(key, body)
    world.put(records.manifest_key(key), records.encode(manifest))
    prev = records.ZERO_HASH
    for index in range(world.lake.sink.log.size()):
        entry = world.entry(index)
        entry.pop("signature"), entry.pop("key_id")
        entry["prev"] = prev
        if index == 0:
            entry.update(object_sha256=records.sha256_hex(body), merkle_root=root,
                         manifest_sha256=records.sha256_hex(records.encode(manifest)))
        data = records.encode(entry)
        world.put(records.log_key(index), data)
        prev = records.entry_leaf(data).hex()
    for prefix in (records.CHECKPOINTS, records.LOG_LEAVES):
        for k in list(world.store.list(prefix)):
            world.s3.delete_object(Bucket=AUDIT, Key=k)


def test_a_rewritten_history_is_refused_by_the_signer_and_reported_by_the_verifier(world):
    _rewrite_history(world)
    # The signer starting cold finds no checkpoint, but the witness holds one: no new chain.
    with pytest.raises(ChainRestarted, match="the witness holds checkpoint 2"):
        world.checkpointer().run()
    assert latest_checkpoint(world.store) is None
    report = world.verify()
    kinds = report.kinds()
    assert {"delete_marker", "object_rewritten", "witness_checkpoint_missing", "log_entry_unauthenticated"} <= kinds
    deleted = {p.where for p in report.problems if p.kind == "delete_marker"}
    assert records.checkpoint_key(0) in deleted and records.checkpoint_key(1) in deleted
    rewritten = {p.where for p in report.problems if p.kind == "object_rewritten"}
    assert {world.lake.keys[0], records.manifest_key(world.lake.keys[0]), records.log_key(0)} <= rewritten


def test_a_signer_that_ignored_the_witness_would_restart_the_chain_and_the_verifier_says_so(world):
    # Given the rewrite, and a signer without its witness (as before issue #15) signing from seq 0,
    # with the attacker holding the writer's key too (so every entry is authentic)
    _rewrite_history(world)
    for index in range(world.lake.sink.log.size()):  # re-sign every entry: a writer-role insider
        entry = world.entry(index)
        world.put(records.log_key(index), records.encode(records.sign_entry(world.entry_signer, entry)))
        if index + 1 < world.lake.sink.log.size():
            following = world.entry(index + 1)
            following["prev"] = records.entry_leaf(world.store.get(records.log_key(index))).hex()
            world.put(records.log_key(index + 1), records.encode(following))
    restarted = world.checkpointer(witness=False).run()
    assert restarted.body["seq"] == 0
    # Then the witness's checkpoints are not the bucket's and no longer match the log.
    report = world.verify()
    assert {"witness_checkpoint_replaced", "witness_checkpoint_missing", "witness_root_mismatch",
            "delete_marker", "object_rewritten"} <= report.kinds(), report.text()
    assert "log_entry_unauthenticated" not in report.kinds()


def test_an_emptied_bucket_fails_against_the_witness_and_with_max_age(world):
    for prefix in ("events/", "integrity/"):
        for key in list(world.store.list(prefix)):
            world.s3.delete_object(Bucket=AUDIT, Key=key)
    report = world.verify()
    assert {"witness_checkpoint_missing", "log_shrunk", "delete_marker"} <= report.kinds()
    from datetime import timedelta

    no_witness = Verifier(world.store, world.public_key, jobs=1, log_id=LOG_ID, max_checkpoint_age=timedelta(hours=2))
    assert "checkpoint_stale" in no_witness.run().kinds()


def test_a_copied_bucket_fails_its_log_id_and_the_witness(world):
    world.s3.create_bucket(Bucket=COPY)
    for prefix in ("events/", "integrity/"):
        for key in world.store.list(prefix):
            world.s3.put_object(Bucket=COPY, Key=key, Body=world.store.get(key))
    report = world.verify(COPY)
    # Its checkpoints and its entries name the other log; the witness holds nothing of this one.
    expected = {"checkpoint_other_log", "log_entry_other_log", "witness_missing", "checkpoint_unwitnessed"}
    assert report.kinds() == expected, report.text()


def test_the_signer_repairs_a_run_that_stopped_between_the_witness_and_the_bucket(world):
    # Given a checkpoint published to the witness whose bucket copy was never written
    world.lake.add_file("2026-11-27", "prediction", 2, name="late")
    checkpointer = world.checkpointer()
    signed = world.checkpointer().run()
    world.s3.delete_object(Bucket=AUDIT, Key=records.checkpoint_key(signed.body["seq"]))
    # (a delete marker here stands for the missing write; the verifier would report it)
    # When the signer runs again
    checkpointer.clock = world.lake.clock
    following = checkpointer.run()
    # Then it re-creates the bucket copy from the witness and chains on
    assert load_checkpoint(world.store, signed.body["seq"]).body == signed.body
    assert following.body["prev"] == signed.sha256


def test_the_signer_never_starts_a_chain_over_a_written_log(aws):
    # Given a log written without any checkpoint (around the chain), and an empty witness
    s3 = boto3.client("s3")
    _bucket(s3, AUDIT)
    _bucket(s3, WITNESS, "COMPLIANCE")
    store, entry_signer = S3Bucket(s3, AUDIT), LocalSigner.generate("entries")
    Lake(store, MALLORY, checkpoint_after=(), entry_signer=entry_signer)
    witness = Witness(S3Bucket(s3, WITNESS), LOG_ID)
    checkpointer = Checkpointer(store, MALLORY, log_id=LOG_ID, witness=witness,
                                entry_key=load_public_key(entry_signer.public_key_pem()))
    # Then the signer refuses to sign seq 0, and nothing is published
    with pytest.raises(ChainRestarted, match="no checkpoint of mlaudit/audit anywhere, yet the log holds 4 entries"):
        checkpointer.run()
    assert latest_checkpoint(store) is None and witness.latest() is None


def test_the_signer_refuses_a_bucket_whose_chain_the_witness_never_saw(world):
    # Given a lake signed without a witness, then a witness configured for it
    other = Witness(S3Bucket(world.s3, WITNESS), records.log_id("elsewhere"))
    checkpointer = Checkpointer(world.store, world.signer, log_id=LOG_ID, entry_key=world.entry_key, witness=other)
    with pytest.raises(ChainRestarted, match="the witness holds no checkpoint"):
        checkpointer.run()
    # And a checkpoint of another log in the bucket is refused as well
    mislabelled = Checkpointer(world.store, world.signer, log_id=records.log_id(COPY), witness=world.witness)
    with pytest.raises(ChainRestarted, match="belongs to log"):
        mislabelled.run()


def test_witness_checkpoints_cannot_be_deleted_or_replaced(world):
    key = records.witness_key(LOG_ID, 0)
    version = world.s3.head_object(Bucket=WITNESS, Key=key)["VersionId"]
    with pytest.raises(world.s3.exceptions.ClientError):
        world.s3.delete_object(Bucket=WITNESS, Key=key, VersionId=version, BypassGovernanceRetention=True)
    fake = SignedCheckpoint(dict(world.witness.load(0).body, tree_size=0), b"x")
    from mlaudit.integrity.services.witness import WitnessConflict

    with pytest.raises(WitnessConflict):
        world.witness.publish(fake)


class _Context:
    function_name = "checkpoint"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:checkpoint"
    aws_request_id = "req-1"


def test_checkpoint_handler_checks_entries_signs_with_kms_and_publishes_to_the_witness(aws):
    # Given the checkpoint function's environment as the stack gives it, and one file the
    # writer recorded with its entry key
    import json

    from mlaudit.bootstrap import Runtime
    from mlaudit.handlers import checkpoint as handler_module
    from mlaudit.integrity.primitives import merkle
    from mlaudit.integrity.primitives.signing import verify_signature
    from mlaudit.integrity.services.sink import IntegritySink

    s3, kms, sns, sqs = (boto3.client(name) for name in ("s3", "kms", "sns", "sqs"))
    _bucket(s3, AUDIT)
    _bucket(s3, WITNESS, "COMPLIANCE")
    signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_3072")["KeyMetadata"]["KeyId"]
    entry = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    topic = sns.create_topic(Name="witness")["TopicArn"]
    archive = sqs.create_queue(QueueName="archive")["QueueUrl"]
    archive_arn = sqs.get_queue_attributes(QueueUrl=archive, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=archive_arn, Attributes={"RawMessageDelivery": "true"})
    environ = {"MLAUDIT_AUDIT_BUCKET": AUDIT, "MLAUDIT_SIGNING_KEY_ID": signing, "MLAUDIT_KMS_KEY_ID": "",
               "MLAUDIT_ENTRY_KEY_ID": entry, "MLAUDIT_WITNESS_BUCKET": WITNESS, "MLAUDIT_WITNESS_TOPIC_ARN": topic}
    handler_module.APP.configure(runtime=Runtime(environ, boto3.client))
    sink = IntegritySink(S3Bucket(s3, AUDIT), log_id=LOG_ID, entry_signer=KmsSigner(kms, entry), require_genesis=True)
    key = "events/event_date=2026-11-26/event_type=prediction/a.parquet"
    try:
        # The writer's first entry waits for the chain; the first run signs the empty log.
        from mlaudit.integrity.services.log import AwaitingGenesis

        with pytest.raises(AwaitingGenesis):
            sink.file_written(key, b"x", [merkle.leaf_hash(b"e")], "e", "e")
        assert handler_module.handler({}, _Context())["tree_size"] == 0
        sink.file_written(key, b"x", [merkle.leaf_hash(b"e")], "e", "e")
        # When the schedule runs it again
        answer = handler_module.handler({}, _Context())
    finally:
        handler_module.APP.reset()
    # Then it signed the entry, in the bucket and in the witness, and announced it
    assert answer["seq"] == 1 and answer["tree_size"] == 1
    signed = latest_checkpoint(S3Bucket(s3, AUDIT))
    assert verify_signature(load_public_key(kms_public_key_pem(kms, signing)), signed.message, signed.signature)
    assert signed.body["log_id"] == LOG_ID
    assert Witness(S3Bucket(s3, WITNESS), LOG_ID).latest().encode() == signed.encode()
    messages = sqs.receive_message(QueueUrl=archive, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [load_checkpoint(S3Bucket(s3, AUDIT), 0).to_json(),
                                                          signed.to_json()]


# -- the write-once bucket policy, as the local stack enforces it --------------------------------


def test_the_local_stack_enforces_the_write_once_policy_on_every_role(aws):
    from local.iam import AccessDenied, Enforcer, Need, Statement, World, bucket_policy_denials

    s3 = boto3.client("s3")
    _bucket(s3, AUDIT)
    world = World(account="123456789012", region="us-east-1", arns={}, write_once_buckets=frozenset({AUDIT}))
    # A role allowed everything on the bucket: the policy's Deny still wins.
    everything = Statement(frozenset({"s3:putobject", "s3:getobject", "s3:deleteobject", "s3:deleteobjectversion",
                                      "s3:listbucket", "s3:bypassgovernanceretention"}),
                           (f"arn:aws:s3:::{AUDIT}", f"arn:aws:s3:::{AUDIT}/*"))
    client = Enforcer("admin-like", [everything], world).guard(boto3.client("s3"))
    key = "integrity/log/000000000000.json"
    client.put_object(Bucket=AUDIT, Key=key, Body=b"first", IfNoneMatch="*")  # a create: allowed
    with pytest.raises(AccessDenied, match="WriteOnceNoOverwrite"):
        client.put_object(Bucket=AUDIT, Key=key, Body=b"second")  # no If-None-Match: a second version
    with pytest.raises(AccessDenied, match="WriteOnceNoDelete"):
        client.delete_object(Bucket=AUDIT, Key=key)  # a delete marker
    version = s3.head_object(Bucket=AUDIT, Key=key)["VersionId"]
    with pytest.raises(AccessDenied, match="s3:DeleteObjectVersion"):
        client.delete_object(Bucket=AUDIT, Key=key, VersionId=version, BypassGovernanceRetention=True)
    with pytest.raises(AccessDenied, match="WriteOnceNoDelete"):
        client.delete_objects(Bucket=AUDIT, Delete={"Objects": [{"Key": key}]})
    assert s3.get_object(Bucket=AUDIT, Key=key)["Body"].read() == b"first"
    # Outside events/ and integrity/, and multipart parts (no conditional header), the policy is silent.
    client.put_object(Bucket=AUDIT, Key="other/x", Body=b"1")
    client.delete_object(Bucket=AUDIT, Key="other/x")
    assert bucket_policy_denials("UploadPart", {"Bucket": AUDIT, "Key": "events/a.parquet"}, world) == []
    assert bucket_policy_denials("PutObject", {"Bucket": "elsewhere", "Key": "events/a"}, world) == []
    assert bucket_policy_denials("CompleteMultipartUpload", {"Bucket": AUDIT, "Key": "events/a"}, world) == [
        (Need("s3:PutObject", f"arn:aws:s3:::{AUDIT}/events/a"), "WriteOnceNoOverwrite")]


def test_the_writer_stores_parquet_write_once_and_a_retry_of_the_same_bytes_is_fine(aws):
    from mlaudit.adapters.bucket import S3Bucket

    s3 = boto3.client("s3")
    _bucket(s3, AUDIT)
    sse = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    objects = S3Bucket(s3, AUDIT, sse)
    key = "events/event_date=2026-11-26/event_type=prediction/a.parquet"
    objects.put(key, b"parquet")
    objects.put(key, b"parquet")  # a redelivered batch rebuilt the same file
    with pytest.raises(s3.exceptions.ClientError):
        objects.put(key, b"other bytes")
    assert len(s3.list_object_versions(Bucket=AUDIT, Prefix=key)["Versions"]) == 1


def test_a_signer_starting_cold_knows_how_old_the_chains_head_had_grown(world) -> None:
    """The checkpoint age metric comes from the chain (the previous checkpoint's time), so
    the first run of a new container reports it too."""
    signed = world.checkpointer().run()
    cold = world.checkpointer()  # a new container
    assert cold.previous_time is None
    cold.run()
    assert cold.previous_time == signed.body["time"]


# -- the witness's own history (issue 23): five attacks that once passed -------------------------


def _destroy(world: World, key: str) -> None:
    """An admin with governance bypass: every version of a key removed, no trace left in the bucket."""
    for version in world.s3.list_object_versions(Bucket=AUDIT, Prefix=key).get("Versions", []):
        if version["Key"] == key:
            world.s3.delete_object(Bucket=AUDIT, Key=key, VersionId=version["VersionId"],
                                   BypassGovernanceRetention=True)


def _hide(world: World, seq: int) -> None:
    """A delete marker on a witness checkpoint (its locked version stays, hidden)."""
    world.s3.delete_object(Bucket=WITNESS, Key=records.witness_key(LOG_ID, seq))


def _kinds_at(report, kind: str) -> set[str]:
    return {p.where for p in report.problems if p.kind == kind}


def test_attack_1_a_rollback_behind_the_witness_is_caught(world):
    # Given checkpoints 0..2 (sizes 0, 2, 4): the admin rolls the lake back to checkpoint 1,
    # destroying the newer entries, files and checkpoint, and hides the witness's checkpoint 2
    for index in (2, 3):
        entry = world.entry(index)
        for key in (entry["object_key"], records.manifest_key(entry["object_key"]), records.log_key(index)):
            _destroy(world, key)
    _destroy(world, records.checkpoint_key(2))
    _hide(world, 2)
    # Then the signer will not sign over the rolled-back log
    with pytest.raises(ChainRestarted, match="checkpoint 2 of mlaudit/audit behind a delete marker"):
        world.checkpointer().run()
    # And the verifier names the hidden checkpoint and what it signed that the lake lost
    report = world.verify()
    assert not report.ok
    assert records.witness_key(LOG_ID, 2) in _kinds_at(report, "witness_delete_marker")
    assert {"witness_checkpoint_missing", "log_shrunk"} <= report.kinds(), report.text()


def test_attack_2_an_emptied_lake_and_a_hidden_witness_is_caught(world):
    for prefix in ("events/", "integrity/"):
        for key in list(world.store.list(prefix)):
            world.s3.delete_object(Bucket=AUDIT, Key=key)
    for seq in range(3):
        _hide(world, seq)
    report = world.verify()
    assert {"witness_delete_marker", "witness_checkpoint_missing", "log_shrunk", "delete_marker",
            "nothing_verified"} <= report.kinds(), report.text()
    assert len(_kinds_at(report, "witness_delete_marker")) == 3


def test_attack_3_a_second_version_of_the_latest_witness_checkpoint_is_caught(world):
    # Given the admin writes the older checkpoint 1 over the witness's latest key (2)
    older = world.witness.load(1)
    world.s3.put_object(Bucket=WITNESS, Key=records.witness_key(LOG_ID, 2), Body=older.encode())
    with pytest.raises(ChainRestarted, match="checkpoint 2 of mlaudit/audit has 2 versions"):
        world.checkpointer().run()
    report = world.verify()
    assert records.witness_key(LOG_ID, 2) in _kinds_at(report, "witness_checkpoint_replaced"), report.text()
    assert "checkpoint_replayed" in report.kinds()


def test_attack_4_a_replaced_witness_checkpoint_and_the_lakes_newest_destroyed_is_caught(world):
    older = world.witness.load(1)
    world.s3.put_object(Bucket=WITNESS, Key=records.witness_key(LOG_ID, 2), Body=older.encode())
    _destroy(world, records.checkpoint_key(2))
    with pytest.raises(ChainRestarted):
        world.checkpointer().run()
    report = world.verify()
    assert {"witness_checkpoint_replaced", "witness_checkpoint_missing"} <= report.kinds(), report.text()
    assert not report.ok


def test_attack_5_a_cold_signer_never_starts_a_chain_over_a_hidden_witness(world):
    # Given the lake emptied (every version destroyed) and every witness checkpoint hidden
    for prefix in ("events/", "integrity/"):
        for key in {v["Key"] for v in world.s3.list_object_versions(Bucket=AUDIT, Prefix=prefix).get("Versions", [])}:
            _destroy(world, key)
    for seq in range(3):
        _hide(world, seq)
    assert world.witness.latest_seq() is None  # to a reader of current objects, the witness is empty
    # When a new container signs, it sees the hidden checkpoints and signs nothing
    with pytest.raises(ChainRestarted, match="checkpoint 0 of mlaudit/audit behind a delete marker"):
        world.checkpointer().run()
    assert latest_checkpoint(world.store) is None
    report = world.verify()
    assert {"witness_delete_marker", "log_shrunk", "nothing_verified"} <= report.kinds(), report.text()


def test_the_write_once_policy_wants_if_none_match_exactly_star_on_both_buckets(aws):
    from local.iam import AccessDenied, Enforcer, Statement, World

    s3 = boto3.client("s3")
    _bucket(s3, AUDIT)
    _bucket(s3, WITNESS, "COMPLIANCE")
    world = World(account="123456789012", region="us-east-1", arns={}, write_once_buckets=frozenset({AUDIT}),
                  witness_buckets=frozenset({WITNESS}))
    everything = Statement(frozenset({"s3:putobject", "s3:getobject", "s3:deleteobject", "s3:listbucket"}),
                           tuple(f"arn:aws:s3:::{b}{s}" for b in (AUDIT, WITNESS) for s in ("", "/*")))
    client = Enforcer("signer-like", [everything], world).guard(boto3.client("s3"))
    for bucket, key in ((AUDIT, "integrity/log/000000000000.json"), (WITNESS, records.witness_key(LOG_ID, 0))):
        with pytest.raises(AccessDenied, match="WriteOnceNoOverwrite"):
            client.put_object(Bucket=bucket, Key=key, Body=b"x", IfNoneMatch='"x"')  # not a create-only header
        client.put_object(Bucket=bucket, Key=key, Body=b"first", IfNoneMatch="*")
        with pytest.raises(AccessDenied, match="WriteOnceNoOverwrite"):
            client.put_object(Bucket=bucket, Key=key, Body=b"second")
        with pytest.raises(AccessDenied, match="WriteOnceNoDelete"):
            client.delete_object(Bucket=bucket, Key=key)
    # Outside the audit bucket's prefixes its policy is silent; the witness's covers every key
    client.put_object(Bucket=AUDIT, Key="other/x", Body=b"1")
    with pytest.raises(AccessDenied, match="WriteOnceNoOverwrite"):
        client.put_object(Bucket=WITNESS, Key="other/x", Body=b"1")
