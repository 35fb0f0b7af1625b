"""Settings come from context: invalid values stop synthesis and name the setting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlaudit.settings import SettingsError

from app import ROOT, build_app


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



def test_cli_context_wins_over_cdk_json(tmp_path) -> None:
    # Given `cdk synth -c object_lock_days=0`: the CLI runs `python app.py` with CDK_CONTEXT_JSON
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",  # the venv's Node
        "CDK_CONTEXT_JSON": '{"object_lock_days": "0"}',
        "CDK_OUTDIR": str(tmp_path),
    }
    result = subprocess.run([sys.executable, str(ROOT / "app.py")], env=env, capture_output=True, text=True)
    # Then synthesis stops with a message naming the setting, although cdk.json holds a valid value.
    assert result.returncode != 0
    assert "object_lock_days" in result.stderr and "Traceback" not in result.stderr
