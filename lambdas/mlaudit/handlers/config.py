"""GET /v1/config: the settings this deployment runs with (admins and auditors; logic in
mlaudit.configuration). GET /v1/openapi.json: the API's OpenAPI document (public:
mlaudit.openapi)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.http import api_handler
from mlaudit.principal import principal_from_event

if TYPE_CHECKING:
    from mlaudit.bootstrap import FunctionApp
    from mlaudit.configuration import ConfigService

logger = Logger(service="mlaudit-config")

APP: FunctionApp[ConfigService] = bootstrap.app("config")


def read_config(event: dict[str, Any], config: ConfigService) -> dict[str, Any]:
    return config.read(principal_from_event(event))


@functools.cache
def _openapi_document() -> dict[str, Any]:
    from mlaudit import openapi  # noqa: PLC0415 - pydantic's schema export, on the first request only

    return openapi.document()


def openapi(event: dict[str, Any], _: None) -> dict[str, Any]:
    """Public: nothing about the audit trail, no principal."""
    return _openapi_document()


handler = api_handler(APP, {"read_config": read_config, "openapi": openapi}, logger,
                      "The configuration could not be read; retry later.")
