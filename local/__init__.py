"""The laptop stack: moto in server mode, the resources the functions need, an API
Gateway emulator running the real handlers and authorizer, the OAuth2
client-credentials flow Cognito serves on AWS, and an SQS -> writer poller.

Runs with ``python -m local serve`` (see ``local/__main__.py``) or from Python with
`local.stack.LocalStack`. Not part of the Lambda asset.
"""
