"""``python -m cli <command>``: operator commands that work on a deployment (by stack name
and region) and on the local stack (by its ``--config-out`` file)."""

from __future__ import annotations

import argparse
import sys

from cli import imports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    imports.register(commands)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except imports.CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
