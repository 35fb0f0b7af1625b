"""mlaudit: the operator's commands, for the local stack (--config FILE, default
.local/stack.json) and for a deployment (--stack NAME --region R). Also python -m cli.

    mlaudit serve                     the whole stack on this machine, until Ctrl-C
    mlaudit demo                      a sample ML workload through it, then the HTML report
    mlaudit verify                    the lake's integrity, with a progress bar and a summary
    mlaudit compact                   merge every closed day's files per event type (docs/compaction.md)
    mlaudit query NAME --param k=v    a named query (table, --format csv or json)
    mlaudit proof EVENT_ID            an event's receipt, checked
    mlaudit dlq [--redrive ID ...]    dead-letter messages and why; send them back
    mlaudit report                    one self-contained HTML file of the models' health
    mlaudit import FILE               a JSON Lines or Parquet file of events
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# The functions' package lives in lambdas/ (the Lambda asset root) in a checkout; an
# installed project has it as a top-level package already.
_LAMBDAS = Path(__file__).resolve().parents[1] / "lambdas"
if _LAMBDAS.is_dir() and str(_LAMBDAS) not in sys.path:
    sys.path.insert(0, str(_LAMBDAS))

from cli import commands, imports, report  # noqa: E402 - after the path set-up just above
from cli.target import CommandError  # noqa: E402


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mlaudit", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog="mlaudit COMMAND --help tells more.")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.register(sub)
    report.register(sub)
    imports.register(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - errors come without tracebacks unless asked for
        if os.environ.get("MLAUDIT_DEBUG"):
            raise
        print(f"error: {_describe(error)} (MLAUDIT_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 2


def _describe(error: Exception) -> str:
    kind = type(error).__name__
    module = type(error).__module__
    if kind == "EndpointConnectionError":  # botocore's: nothing answers at the endpoint
        return (f"AWS: nothing answers at {getattr(error, 'kwargs', {}).get('endpoint_url', 'the endpoint')} "
                "(a local stack that stopped: start it with `mlaudit serve`; a deployment: check the region "
                "and the network)")
    if module.startswith(("botocore", "boto3")):
        return f"AWS: {error}"
    if module.startswith(("requests", "urllib3")):
        return f"network: {kind}"
    if isinstance(error, OSError):
        return f"{error.strerror or kind}: {error.filename or ''}".rstrip(": ")
    return f"{kind}: {error}"


if __name__ == "__main__":
    sys.exit(main())
