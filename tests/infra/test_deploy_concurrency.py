"""A fresh account can take the defaults: its Lambda concurrency quota is 10 and Lambda
keeps 100 unreserved, so no reserved or provisioned concurrency unless a setting asks."""

from __future__ import annotations

import boto3
import pytest
from mlaudit.integrity.checkpoint import Checkpointer, latest_seq, load_checkpoint
from mlaudit.integrity.signing import LocalSigner
from mlaudit.integrity.store import S3Store

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


class _RacedStore(S3Store):
    """Lets another signer run complete just before this one claims its checkpoint."""

    def __init__(self, client, bucket, rival) -> None:
        super().__init__(client, bucket)
        self.rival = rival

    def create(self, key: str, body: bytes) -> bool:
        if self.rival is not None and "checkpoint" in key:
            rival, self.rival = self.rival, None
            rival()
        return super().create(key, body)


def test_overlapping_checkpoint_runs_cannot_fork_the_chain(aws) -> None:
    """Why the signer needs no reserved concurrency of 1."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="audit", ObjectLockEnabledForBucket=True)
    signer = LocalSigner.generate()
    plain = S3Store(s3, "audit")
    rival = Checkpointer(S3Store(s3, "audit"), signer, log_id="log").run
    loser = Checkpointer(_RacedStore(s3, "audit", rival), signer, log_id="log")
    with pytest.raises(RuntimeError, match="concurrent run"):
        loser.run()
    assert latest_seq(plain) == 0
    Checkpointer(plain, signer, log_id="log").run()
    first, second = load_checkpoint(plain, 0), load_checkpoint(plain, 1)
    assert second is not None and first is not None
    assert second.body["prev"] == first.sha256
    assert latest_seq(plain) == 1
