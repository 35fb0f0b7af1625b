"""Generated documentation: the settings table (docs/deploy.md) and the compliance
acknowledgments (docs/compliance.md), built from the code so they cannot go stale.

    python -m stacks.docs          # rewrite both files
    python -m stacks.docs --check  # exit 1 if either is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from mlaudit.settings import setting_docs

from stacks.compliance import ACKNOWLEDGMENTS

DOCS = Path(__file__).resolve().parents[1] / "docs"

# Used while a setting has no Field(description=...) in mlaudit/settings.py; a description there wins.
MEANINGS: dict[str, str] = {
    "name_prefix": "Prefix of named resources (KMS alias, Glue database, Athena workgroup, Cognito domain).",
    "object_lock_mode": "Object Lock default retention mode of the audit bucket: GOVERNANCE or COMPLIANCE "
    "(COMPLIANCE cannot be shortened or removed by anyone, root included).",
    "object_lock_days": "Default Object Lock retention and lifecycle expiry of audit objects, in days "
    "(2190 = HIPAA's six years).",
    "archive_after_days": "Age in days at which audit objects move to archive_storage_class.",
    "archive_storage_class": "Archive storage class: GLACIER_IR, GLACIER, DEEP_ARCHIVE or STANDARD_IA.",
    "noncurrent_archive_after_days": "Days after an object version becomes noncurrent before it is archived.",
    "access_log_retention_days": "Days S3 server access logs are kept in the log bucket.",
    "log_retention_days": "CloudWatch Logs retention of function, API access and WAF logs (a value "
    "CloudWatch accepts).",
    "api_throttle_rate": "API stage steady-state request rate limit (requests per second).",
    "api_throttle_burst": "API stage burst limit (requests); at least api_throttle_rate.",
    "waf_enabled": "Attach a WAF web ACL (AWS managed rules and a per-IP rate limit) to the API stage.",
    "waf_rate_limit_per_5min": "WAF rate limit: requests per client IP per 5 minutes.",
    "max_batch_events": "Most events one POST /v1/events request may carry.",
    "max_body_bytes": "Largest request body the ingest function accepts, in bytes.",
    "max_message_bytes": "Largest SQS message the ingest function writes (events are packed up to this).",
    "clock_skew_seconds": "How far in the future an event's occurred_at may be.",
    "idempotency_ttl_seconds": "How long an accepted event_id is remembered to drop retries.",
    "ingest_timeout_seconds": "Ingest function timeout (below API Gateway's 29 s).",
    "ingest_memory_mb": "Ingest function memory (MB).",
    "ingest_provisioned_min": "Provisioned concurrency of the ingest alias: minimum.",
    "ingest_provisioned_max": "Provisioned concurrency of the ingest alias: maximum.",
    "ingest_provisioned_target": "Target utilization (0-1) of provisioned concurrency for auto scaling.",
    "writer_batch_size": "Most SQS messages per writer invocation.",
    "writer_batch_window_seconds": "Longest the event source waits to fill a writer batch.",
    "writer_timeout_seconds": "Writer function timeout.",
    "writer_memory_mb": "Writer function memory (MB).",
    "writer_reserved_concurrency": "Reserved concurrency of the writer (also its SQS maximum concurrency).",
    "queue_visibility_timeout_seconds": "Events queue visibility timeout; at least 6 x writer_timeout_seconds.",
    "queue_retention_days": "How long the events queue keeps a message (days, up to 14).",
    "max_receive_count": "Receives before a message moves to the dead-letter queue.",
    "athena_bytes_scanned_cutoff": "Per-query scan limit of the Athena workgroup (bytes).",
    "quicksight_principal_arn": "QuickSight user or group ARN; when set, a data source on the workgroup "
    "and a dataset on the events table are created and shared with it.",
    "alarm_email": "Email address subscribed to the alarm topic (confirm the subscription email).",
    "api_p99_latency_ms": "Alarm when API p99 latency exceeds this (ms).",
    "writer_max_message_age_seconds": "Alarm when the oldest queued event is older than this (s).",
}


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|")


def settings_table() -> str:
    rows = ["| Setting | Default | Meaning |", "| --- | --- | --- |"]
    for name, default, description in setting_docs():
        # As written after -c: booleans are true/false there.
        shown = "(none)" if default is None else f"`{str(default).lower() if isinstance(default, bool) else default}`"
        rows.append(f"| `{name}` | {shown} | {_cell(description or MEANINGS.get(name, ''))} |")
    return "\n".join(rows)


def compliance_table() -> str:
    rows = ["| Rule | Resource | Reason |", "| --- | --- | --- |"]
    for ack in ACKNOWLEDGMENTS:
        when = f" (only while `{ack.unless}` is false)" if ack.unless else ""
        rows.append(f"| `{ack.rule}` | `{ack.path}` | {_cell(ack.reason)}{when} |")
    return "\n".join(rows)


DEPLOY = """\
<!-- Generated by `python -m stacks.docs` from mlaudit/settings.py and stacks/docs.py: do not edit. -->
# Deploying mlaudit

mlaudit is one CDK stack (`mlaudit-stack`, or `<name_prefix>-stack`). Synthesis needs
neither Docker nor AWS credentials: `make synth` writes `cdk.out/`, and the
AwsSolutions, HIPAA Security and NIST 800-53 R5 rule packs run on every synth
(accepted findings and their reasons: [compliance.md](compliance.md)). It does need
the Python package index: the functions' pinned runtime packages (pydantic, PyJWT,
cryptography, from `requirements.txt`) are installed as arm64 wheels with pip into a
layer, no Docker involved.

## Steps

1. `make venv && . .venv/bin/activate`: the CLI runs `python app.py` (cdk.json), which needs
   aws-cdk-lib, cdk-nag and Node from the venv. Credentials for the target account and
   region in your shell (`AWS_PROFILE`, `AWS_REGION`).
2. Once per account and region: `npx aws-cdk@2 bootstrap`
3. Check what will change: `npx aws-cdk@2 diff -c object_lock_mode=GOVERNANCE`
4. Deploy, with any setting from the table below as `-c name=value`:

   ```
   npx aws-cdk@2 deploy \\
     -c object_lock_mode=COMPLIANCE -c object_lock_days=2190 \\
     -c alarm_email=ops@example.com -c waf_enabled=true
   ```

   Or put the values in `cdk.json` under `"context"` so every deploy uses them. An
   invalid value stops synthesis with a message naming the setting.
5. Create people in the user pool (admins invite; there is no self sign-up), add them
   to the groups `auditor`, `analyst`, `privacy_officer` or `admin`; each sets up a
   TOTP authenticator at first sign-in (MFA is required).
6. ML workloads use the `WorkloadClientId` output and its secret (Cognito console or
   `aws cognito-idp describe-user-pool-client`) with the client-credentials grant at
   the `TokenUrl` output, then call `ApiUrl` with `Authorization: Bearer <token>`.
7. Offline verifiers need the checkpoint public key once:
   `aws kms get-public-key --key-id <CheckpointSigningKeyArn output>`.

Stack outputs: `ApiUrl`, `UserPoolId`, `WorkloadClientId`, `PeopleClientId`, `TokenUrl`,
`AuditBucketName`, `AthenaWorkGroup`, `CheckpointSigningKeyArn`.

Notes:
- **Object Lock is irreversible.** In COMPLIANCE mode nobody, root included, can delete
  an object version or shorten its retention until `object_lock_days` have passed.
  Try GOVERNANCE first. The audit bucket, key, tables, queues and log groups are kept
  when the stack is deleted.
- **People's sign-in uses the authorization code grant with PKCE.** The people app
  client has no secret; Cognito verifies a PKCE `code_challenge` (S256) whenever the
  authorization request carries one, but does not require one of a public client, so
  every sign-in client must send it. Its callback URL defaults to
  `http://localhost:8080/callback`.
- **Account-level settings.** API Gateway writes access logs through one CloudWatch role
  per account and region (`AWS::ApiGateway::Account`); this stack sets it (and keeps the
  role on deletion). Cognito sends invitation emails with its default sender, limited
  to a few dozen a day: configure SES on the user pool for more.
- **TLS 1.3 only.** The API uses API Gateway's `SecurityPolicy_TLS13_1_3_2025_09` with
  strict endpoint access: clients need TLS 1.3 (Python 3.7+ with OpenSSL 1.1.1+, Java 11+).
- **Layers.** Powertools comes from its public layer and pyarrow (writer only) from the
  AWS SDK for pandas layer; their per-region versions are pinned in `stacks/functions.py`.
  A region missing from that table fails the deployment early; add it from
  https://aws-sdk-pandas.readthedocs.io/en/stable/layers.html.
- **QuickSight** (`quicksight_principal_arn`): QuickSight must already be set up in the
  account, and its service role allowed to read the audit and query-results buckets and
  use the KMS key (QuickSight console, Security & permissions).
- **Cost levers:** provisioned concurrency on the ingest alias (`ingest_provisioned_min`),
  the Cognito Plus plan (threat protection), WAF (`waf_enabled`).

## Settings

{table}
"""

COMPLIANCE = """\
<!-- Generated by `python -m stacks.docs` from stacks/compliance.py: do not edit. -->
# Compliance: accepted rule-pack findings

Every synthesis runs cdk-nag's AwsSolutions, HIPAA Security and NIST 800-53 R5 packs;
any finding not listed here fails it. Each row is acknowledged on the constructs whose
path (below the stack) matches the glob, and only there. `<Path.Arn>` in a rule stands
for the logical id cdk-nag prints for that construct.

{table}
"""


def rendered() -> dict[Path, str]:
    return {
        DOCS / "deploy.md": DEPLOY.format(table=settings_table()),
        DOCS / "compliance.md": COMPLIANCE.format(table=compliance_table()),
    }


def main(argv: list[str]) -> int:
    stale = [path for path, text in rendered().items() if not path.exists() or path.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path} is out of date: run python -m stacks.docs", file=sys.stderr)
        return 1 if stale else 0
    for path, text in rendered().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
