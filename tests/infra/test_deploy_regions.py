"""Supported regions are listed in one place; synth in any of them works, in another it
fails saying so, and the template's rule stops a deploy elsewhere before anything is made."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlaudit.settings import SettingsError

from app import ROOT
from stacks.regions import SUPPORTED_REGIONS, check_region
from tests.infra.synth import Synth


def _cli_synth(tmp_path, region: str) -> subprocess.CompletedProcess[str]:
    """As `cdk synth` runs the app with a profile's region."""
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
        "CDK_DEFAULT_REGION": region,
        "CDK_OUTDIR": str(tmp_path),
    }
    return subprocess.run([sys.executable, str(ROOT / "app.py")], env=env, capture_output=True, text=True)


@pytest.mark.parametrize("region", SUPPORTED_REGIONS)
def test_every_listed_region_passes_the_check(region: str) -> None:
    check_region(region)


def test_synth_in_a_listed_region_works(tmp_path) -> None:
    result = _cli_synth(tmp_path, "eu-north-1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "mlaudit-stack.template.json").exists()


@pytest.mark.parametrize("region", ["af-south-1", "cn-north-1", "us-gov-west-1", "mars-1"])
def test_an_unlisted_region_fails_the_check(region: str) -> None:
    with pytest.raises(SettingsError, match=f"region {region} is not one mlaudit supports"):
        check_region(region)


def test_synth_in_an_unlisted_region_fails_saying_so(tmp_path) -> None:
    region = "af-south-1"
    result = _cli_synth(tmp_path, region)
    assert result.returncode != 0
    assert f"region {region} is not one mlaudit supports" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_template_refuses_other_regions(default: Synth) -> None:
    rule = default.template.to_json()["Rules"]["SupportedRegion"]
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Contains": [list(SUPPORTED_REGIONS), {"Ref": "AWS::Region"}]}
    assert "not one mlaudit supports" in assertion["AssertDescription"]
