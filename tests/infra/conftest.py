"""Synthesize the app once per test session and variant (about 10 s each with the
rule packs): cdk.json's defaults, and a custom one with every optional part on,
non-default values (to prove context values flow through) and more routes than
ROUTES has today (to prove the API and its functions follow the routes table)."""

from __future__ import annotations

import pytest
from mlaudit.routes import ROUTES

from tests.infra.synth import CUSTOM_CONTEXT, Synth, synthesize


@pytest.fixture(scope="session")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("default"), None)


@pytest.fixture(scope="session")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("custom"), CUSTOM_CONTEXT, ROUTES)


@pytest.fixture(scope="session", params=["default", "custom"])
def synth(request: pytest.FixtureRequest) -> Synth:
    return request.getfixturevalue(request.param)
