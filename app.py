#!/usr/bin/env python3
"""CDK entry point: cdk.json context -> typed Settings -> the mlaudit stack,
checked by the AwsSolutions, HIPAA Security and NIST 800-53 R5 rule packs."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "lambdas"))  # the domain package (mlaudit) lives in the Lambda asset

import aws_cdk as cdk  # noqa: E402
from mlaudit.routes import ROUTES, Route  # noqa: E402
from mlaudit.settings import Settings, SettingsError  # noqa: E402

from stacks.app_stack import MlAuditStack  # noqa: E402
from stacks.compliance import acknowledge, add_rule_packs  # noqa: E402
from stacks.regions import check_region, require_supported_region  # noqa: E402


def settings_from_context(app: cdk.App) -> Settings:
    """Every setting from context (cdk.json, then -c name=value); invalid values name themselves."""
    values = {
        name: value
        for name in Settings.model_fields
        if (value := app.node.try_get_context(name)) is not None
    }
    return Settings.from_mapping(values)


def build_app(
    context: dict[str, object] | None = None, outdir: str | None = None, routes: Sequence[Route] = ROUTES
) -> tuple[cdk.App, MlAuditStack]:
    """The app with cdk.json's context (feature flags, settings) plus `context` on top.

    Plain `python app.py` does not read cdk.json (the cdk CLI does), so load it here;
    under the CLI, -c values still win because CDK_CONTEXT_JSON is applied last.
    """
    defaults = json.loads((ROOT / "cdk.json").read_text())["context"]
    # The CLI says where to write (CDK_OUTDIR); plain `python app.py` writes cdk.out/ like it.
    outdir = outdir or os.environ.get("CDK_OUTDIR") or str(ROOT / "cdk.out")
    app = cdk.App(context={**defaults, **(context or {})}, outdir=outdir)
    settings = settings_from_context(app)
    # Known at synth under the CLI (from the profile) or with -c region=...; else the rule decides.
    check_region(app.node.try_get_context("region") or os.environ.get("CDK_DEFAULT_REGION"))
    stack = MlAuditStack(
        app,
        f"{settings.name_prefix}-stack",
        settings=settings,
        routes=routes,
        description="mlaudit: audit trail for ML workloads",
    )
    require_supported_region(stack)
    add_rule_packs(app)
    acknowledge(stack, settings)
    return app, stack


def main() -> None:
    try:
        app, _ = build_app()
    except SettingsError as exc:
        sys.exit(f"error: {exc}")
    app.synth()


if __name__ == "__main__":
    main()
