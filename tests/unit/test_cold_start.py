"""The ingest function's import path stays light: no pyarrow, duckdb or boto3 at import,
no client, network call or environment read (benchmarked in bench/pipeline.py)."""

from __future__ import annotations

import json
import subprocess
import sys

# Powertools imports the bare `botocore` package (a version string); its client machinery must wait.
HEAVY = ("pyarrow", "duckdb", "boto3", "botocore.client", "pydantic.v1")


def test_ingest_handler_imports_nothing_heavy():
    code = (
        "import os, sys, json; os.environ.clear(); import mlaudit.handlers.ingest; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": ":".join(sys.path)}).stdout
    assert json.loads(loaded) == []
