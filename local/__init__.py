"""The laptop stack: moto in server mode, the resources the functions need, an API
Gateway emulator running the real handlers and authorizer, the OAuth2
client-credentials flow Cognito serves on AWS, an SQS -> writer poller, the AWS services'
side where moto has none (EventBridge schedules and S3 events, alarm notifications), and
IAM evaluated on every call (identity and resource policies, service principals).

Runs with ``python -m local serve`` (see ``local/__main__.py``) or from Python with
`local.stack.LocalStack`. Not part of the Lambda asset.
"""
