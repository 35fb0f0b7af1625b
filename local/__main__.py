"""``python -m local <command>``. Each command is a module of this package with
``register(subparsers)``, which adds its sub-parser and sets ``func`` (args -> exit
code). A command module that is not there yet is simply not offered."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

# The functions' package lives in lambdas/ (the Lambda asset root); make
# `python -m local` work from the repo root without PYTHONPATH.
LAMBDAS = str(Path(__file__).resolve().parents[1] / "lambdas")
if LAMBDAS not in sys.path:
    sys.path.insert(0, LAMBDAS)

COMMANDS = ("serve",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description="mlaudit's local stack")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"local.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"local.{name}":
                raise  # the command exists but one of its imports is missing: say so
            continue
        module.register(subparsers)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
