"""The local stack's moto lists object versions without copying their bodies (local/moto_server.py):
a listing of a bucket holding large objects writes nothing to disk, answers each version's
ETag and size as S3 does, and leaves the objects' bodies whole."""

from __future__ import annotations

import copy
import gc
import hashlib

import boto3
import pytest
from moto import mock_aws
from moto.s3.models import FakeKey

from local.moto_server import list_versions_without_copying_bodies

BIG = 6 * 1024 * 1024  # past moto's 5 MB in-memory limit: a body copy would go to a temporary file


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeKey, "__deepcopy__", None, raising=False)  # undone after the test
    list_versions_without_copying_bodies()


def test_a_listed_copy_holds_no_body_and_the_original_keeps_its_own(patched: None) -> None:
    body = b"x" * BIG
    key = FakeKey("imports/big.jsonl", body, account_id="123456789012", region_name="us-east-1")
    listed = copy.deepcopy(key)
    assert listed._value_buffer._rolled is False and listed.value == b""
    assert (listed.etag, listed.size, listed.name) == (f'"{hashlib.md5(body).hexdigest()}"', BIG, key.name)  # noqa: S324
    listed.is_latest = False
    del listed
    gc.collect()
    assert key.value == body and getattr(key, "is_latest", True) is not False


@mock_aws
def test_listing_versions_answers_as_s3_does(patched: None) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="landing")
    s3.put_bucket_versioning(Bucket="landing", VersioningConfiguration={"Status": "Enabled"})
    bodies = [b"a" * BIG, b"b" * (BIG + 1)]
    for body in bodies:
        s3.put_object(Bucket="landing", Key="imports/big.jsonl", Body=body)
    versions = s3.list_object_versions(Bucket="landing", Prefix="imports/")["Versions"]
    assert [(v["ETag"], v["Size"], v["IsLatest"]) for v in versions] == [
        (f'"{hashlib.md5(body).hexdigest()}"', len(body), latest)  # noqa: S324
        for body, latest in ((bodies[1], True), (bodies[0], False))]
    for version, body in zip(versions, reversed(bodies), strict=True):
        got = s3.get_object(Bucket="landing", Key="imports/big.jsonl", VersionId=version["VersionId"])
        assert got["Body"].read() == body
