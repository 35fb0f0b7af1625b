"""`pip install .`: the operator CLI (`mlaudit`), the local stack and the functions' package.

The metadata is in pyproject.toml; this file only maps the packages, because `mlaudit`
lives in lambdas/ (the Lambda asset root) while `cli`, `local` and `examples` sit at the
repository root. The workload client (client/, `mlaudit-client`) is a package of its own.
"""

from setuptools import find_namespace_packages, find_packages, setup

setup(
    packages=[
        # mlaudit.queries has no __init__.py (its SQL sits in sql/ and views/): namespace-aware
        *find_namespace_packages(where="lambdas", include=["mlaudit", "mlaudit.*"], exclude=["*.__pycache__"]),
        *find_packages(include=["cli", "cli.*", "local", "local.*", "examples", "examples.*"]),
    ],
    package_dir={"mlaudit": "lambdas/mlaudit"},
    package_data={"mlaudit": ["**/*.json", "**/*.sql"], "local": ["**/*.json", "**/*.sql"],
                  "examples": ["*.json"]},  # the demo's monitors file
)
