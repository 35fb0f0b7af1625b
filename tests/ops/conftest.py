"""moto for the operator tools. moto 5.2 does not implement Lambda's GetAccountSettings;
`fresh_account` adds that one operation to moto's Lambda service, answering from moto's
own state the way AWS does: the quota moto already enforces on reserved concurrency
(MOTO_LAMBDA_CONCURRENCY_QUOTA, here 10 like a new account) less what moto's functions
reserve. Every other call goes to moto unchanged."""

from __future__ import annotations

import json

import pytest

FRESH_ACCOUNT_QUOTA = 10


def _get_account_settings(self):  # a LambdaResponse method, as moto names them
    import os

    quota = int(os.environ.get("MOTO_LAMBDA_CONCURRENCY_QUOTA", "1000"))
    reserved = sum(int(f.reserved_concurrency or 0) for f in self.backend.list_functions())
    body = {
        "AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
                         "ConcurrentExecutions": quota, "UnreservedConcurrentExecutions": quota - reserved},
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(list(self.backend.list_functions()))},
    }
    return 200, {}, json.dumps(body)


@pytest.fixture
def fresh_account(monkeypatch):
    from moto import mock_aws
    from moto.awslambda import urls
    from moto.awslambda.responses import LambdaResponse

    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", str(FRESH_ACCOUNT_QUOTA))
    monkeypatch.setitem(urls.url_paths, r"{0}/(?P<api_version>[^/]+)/account-settings/?$", LambdaResponse.dispatch)
    monkeypatch.setattr(LambdaResponse, "get_account_settings", _get_account_settings, raising=False)
    with mock_aws():
        yield
