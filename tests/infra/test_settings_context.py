"""Settings come from context: invalid values stop synthesis and name the setting."""

from __future__ import annotations

import pytest
from mlaudit.settings import SettingsError

from app import build_app


@pytest.mark.parametrize(
    ("name", "value"),
    [("object_lock_days", "0"), ("object_lock_mode", "NONE"), ("waf_enabled", "maybe"), ("alarm_email", "x")],
)
def test_invalid_context_value_fails_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        build_app({name: value})


def test_incoherent_values_fail_with_the_rule() -> None:
    with pytest.raises(SettingsError, match="queue_visibility_timeout_seconds"):
        build_app({"writer_timeout_seconds": "600", "queue_visibility_timeout_seconds": "900"})


def test_context_values_flow_into_settings(custom) -> None:
    assert custom.settings.object_lock_mode == "COMPLIANCE"
    assert custom.settings.object_lock_days == 400
    assert custom.settings.waf_enabled is True
