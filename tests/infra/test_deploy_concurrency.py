"""A fresh account can take the defaults: its Lambda concurrency quota is 10 and Lambda
keeps 100 unreserved, so no reserved or provisioned concurrency unless a setting asks."""

from __future__ import annotations

import boto3
import pytest
from mlaudit.adapters.bucket import S3Bucket
from mlaudit.integrity.primitives.signing import LocalSigner
from mlaudit.integrity.services.checkpoint import Checkpointer, latest_seq, load_checkpoint
from mlaudit.integrity.services.witness import Witness, WitnessConflict

from tests.infra.synth import Synth


def test_defaults_reserve_no_concurrency(default: Synth) -> None:
    assert default.settings.writer_reserved_concurrency is None
    assert default.settings.ingest_provisioned_min == 0
    for logical_id, function in default.of_type("AWS::Lambda::Function").items():
        assert "ReservedConcurrentExecutions" not in function["Properties"], logical_id
    for alias in default.props("AWS::Lambda::Alias"):
        assert "ProvisionedConcurrencyConfig" not in alias
    assert not default.of_type("AWS::ApplicationAutoScaling::ScalableTarget")
    # The writer is still bounded, by its event source (which reserves nothing).
    (mapping,) = default.props("AWS::Lambda::EventSourceMapping")
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": default.settings.writer_max_concurrency}


def test_settings_turn_reservations_on(custom: Synth) -> None:
    s = custom.settings
    assert s.writer_reserved_concurrency and s.ingest_provisioned_min
    reserved = [f["ReservedConcurrentExecutions"] for f in custom.props("AWS::Lambda::Function")
                if "ReservedConcurrentExecutions" in f]
    assert reserved == [s.writer_reserved_concurrency]
    (alias,) = custom.props("AWS::Lambda::Alias")
    assert alias["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": s.ingest_provisioned_min}
    (mapping,) = custom.props("AWS::Lambda::EventSourceMapping")
    expected = min(s.writer_max_concurrency, s.writer_reserved_concurrency)
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": expected}


class _RacedStore(S3Bucket):
    """Lets another signer run complete just before this store's first checkpoint create."""

    def __init__(self, client, bucket, rival=None) -> None:
        super().__init__(client, bucket)
        self.rival = rival

    def create(self, key: str, body: bytes) -> bool:
        if self.rival is not None and "checkpoints/" in key:
            rival, self.rival = self.rival, None
            rival()
        return super().create(key, body)


@pytest.mark.parametrize("raced", ["witness", "audit"])
def test_overlapping_checkpoint_runs_cannot_fork_the_chain(aws, raced: str) -> None:
    """Why the signer needs no reserved concurrency of 1: whether the other run gets in
    before the witness or before the audit bucket, one run fails without forking."""
    s3 = boto3.client("s3")
    for bucket in ("audit", "witness"):
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    signer = LocalSigner.generate()

    def checkpointer(audit: S3Bucket, witness: S3Bucket) -> Checkpointer:
        return Checkpointer(audit, signer, log_id="log", witness=Witness(witness, "log"))

    rival = checkpointer(S3Bucket(s3, "audit"), S3Bucket(s3, "witness")).run
    stores = {"audit": S3Bucket(s3, "audit"), "witness": S3Bucket(s3, "witness")}
    stores[raced] = _RacedStore(s3, raced, rival)
    with pytest.raises((RuntimeError, WitnessConflict)):
        checkpointer(stores["audit"], stores["witness"]).run()
    plain = S3Bucket(s3, "audit")
    checkpointer(plain, S3Bucket(s3, "witness")).run()  # the next scheduled run signs on
    witness = Witness(S3Bucket(s3, "witness"), "log")
    seqs = latest_seq(plain)
    assert seqs is not None and seqs >= 1 and witness.latest_seq() == seqs
    for seq in range(seqs + 1):
        stored, witnessed = load_checkpoint(plain, seq), witness.load(seq)
        assert stored is not None and witnessed is not None and stored.encode() == witnessed.encode()
        if seq:
            previous = load_checkpoint(plain, seq - 1)
            assert previous is not None and stored.body["prev"] == previous.sha256
