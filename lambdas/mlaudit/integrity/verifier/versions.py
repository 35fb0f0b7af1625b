"""The audit bucket's version history, for the verifier: a write-once object has exactly
one version and no delete marker. Object Lock lets anyone with s3:DeleteObject add a
delete marker (it hides an object without removing its locked version), and a plain
PutObject adds a second version; both leave a trace only here."""

from __future__ import annotations

from typing import Any

from mlaudit.adapters.bucket import S3Bucket


class S3History(S3Bucket):
    """`versions` and `get_version` of `S3Bucket` (s3:ListBucketVersions, s3:GetObjectVersion),
    named for what the verifier uses it for."""

    def __init__(self, client: Any, bucket: str) -> None:
        super().__init__(client, bucket)
