"""Shared fixtures: fake AWS credentials (never a real account), moto in-process."""

from __future__ import annotations

import os

import pytest

os.environ.update(
    AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",  # noqa: S105 - moto's fake credentials
    AWS_SESSION_TOKEN="testing", AWS_DEFAULT_REGION="us-east-1",
)


@pytest.fixture
def aws():
    from moto import mock_aws

    with mock_aws():
        yield
