"""The write-once policy of the audit bucket and the witness bucket, declared once.

stacks/storage.py and stacks/integrity.py render these statements into the two bucket
policies (Principal "*": they bind every role of the account, admins included, until
someone changes the policy, which the witness and the verifier's version checks then
expose). The local stack enforces the same statements on every call a function makes
(local/iam.py): moto evaluates bucket policies without their conditions, so they are not
installed there.

What they forbid under ``events/``, ``integrity/`` and ``index/`` of the audit bucket (the
subject index: subject access must not lose a file by an index object going missing), and
everywhere in the witness: deleting (no delete markers, no version removed), bypassing
governance retention, and any object creation unless the request carries
``If-None-Match: *`` exactly (no second version of a key; another value is no create-only
condition). What retention itself needs is untouched: S3 Lifecycle expires objects after
retention as the service, which bucket policies do not govern; multipart parts are exempt
as S3 documents (they carry no conditional header; the completing request does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlaudit.layout import EVENTS_PREFIX, INDEX_PREFIX, INTEGRITY_PREFIX

WRITE_ONCE_PREFIXES = (EVENTS_PREFIX, INTEGRITY_PREFIX, INDEX_PREFIX)  # the audit bucket's
WITNESS_PREFIXES = ("",)  # the witness bucket: every object
# S3 operations that create an object (what s3:ObjectCreationOperation is true for).
OBJECT_CREATION_OPERATIONS = frozenset({"PutObject", "CopyObject", "CompleteMultipartUpload"})


@dataclass(frozen=True)
class Deny:
    sid: str
    actions: tuple[str, ...]
    why: str
    # An IAM condition block: {operator: {key: value}}. StringNotEquals and Bool are used.
    condition: dict[str, dict[str, str]] = field(default_factory=dict)

    def resources(self, bucket_arn: str, prefixes: tuple[str, ...] = WRITE_ONCE_PREFIXES) -> list[str]:
        return [f"{bucket_arn}/{prefix}*" for prefix in prefixes]

    def applies(
        self, action: str, key: str, context: dict[str, Any], prefixes: tuple[str, ...] = WRITE_ONCE_PREFIXES,
    ) -> bool:
        """Does this statement deny ``action`` on object ``key`` in a request whose condition
        keys are ``context`` (a key absent from the request is absent from it)?"""
        if action.lower() not in {a.lower() for a in self.actions}:
            return False
        if not key.startswith(prefixes):
            return False
        return all(_holds(operator, name, value, context)
                   for operator, block in self.condition.items() for name, value in block.items())


def _holds(operator: str, name: str, value: str, context: dict[str, Any]) -> bool:
    if operator == "Null":  # "true": the key is absent from the request
        return (name not in context) == (value == "true")
    if operator == "StringNotEquals":  # a negated operator: true when the key is absent too
        return name not in context or str(context[name]) != value
    if operator == "Bool":
        return name in context and str(context[name]).lower() == value
    raise NotImplementedError(f"condition operator {operator}")


WRITE_ONCE: tuple[Deny, ...] = (
    Deny(
        "WriteOnceNoDelete",
        ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"),
        why="no delete markers and no version removed: Object Lock alone allows delete markers",
    ),
    Deny(
        "WriteOnceNoOverwrite",
        ("s3:PutObject",),
        why="every object is created with If-None-Match: * (exactly), so a key never gets a second version",
        condition={"StringNotEquals": {"s3:if-none-match": "*"}, "Bool": {"s3:ObjectCreationOperation": "true"}},
    ),
)


def statements(bucket_arn: str, prefixes: tuple[str, ...] = WRITE_ONCE_PREFIXES) -> list[dict[str, Any]]:
    """The bucket policy statements, as JSON (what stacks/storage.py adds to the audit
    bucket's policy, and stacks/integrity.py, with `WITNESS_PREFIXES`, to the witness's)."""
    return [
        {
            "Sid": deny.sid,
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": list(deny.actions),
            "Resource": deny.resources(bucket_arn, prefixes),
            **({"Condition": deny.condition} if deny.condition else {}),
        }
        for deny in WRITE_ONCE
    ]
