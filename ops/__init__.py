"""Operator tools for a deployment: preflight checks before the first deploy, the
as-deployed smoke test, and the cost model (docs/deploy.md)."""
