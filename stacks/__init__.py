"""Infrastructure of mlaudit: one module per logical unit, wired in app_stack.

The units read names and limits from the domain package `mlaudit`, which lives in
the Lambda asset folder; make it importable however stacks is entered.
"""

import sys
from pathlib import Path

_LAMBDAS = str(Path(__file__).resolve().parents[1] / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
