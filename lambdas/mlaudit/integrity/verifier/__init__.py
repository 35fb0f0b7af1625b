"""The offline verifier: `checks` (the `Verifier`), `command` (``mlaudit-verify``, or
``python -m mlaudit.integrity.verifier``) and what only they use (`spill`, `versions`).

It reads what the services wrote and imports them and the primitives; nothing imports it
back but the CLI, the benchmarks and the tests. Not in the functions' asset
(`stacks.functions.ASSET_EXCLUDES`): `pip install .` installs it with the `mlaudit` CLI.
"""

from mlaudit.integrity.verifier.checks import Problem, Report, Verifier, digest_file, parse_date

__all__ = ["Problem", "Report", "Verifier", "digest_file", "parse_date"]
