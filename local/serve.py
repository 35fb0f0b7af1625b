"""``python -m local serve``: run the local stack until SIGINT/SIGTERM.

Writes the stack's config (URLs, names, the machine client's secret, the generated
users' passwords) as JSON to ``--config-out``, readable by the owner only, written
atomically so a reader never sees half a file, and removes it on the way out (Ctrl-C,
SIGTERM, SIGHUP), so no command is sent to a stack that is gone.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from mlaudit.settings import Settings

from local.faults import FaultPlan
from local.resources import Overrides
from local.runtime import WholeLines
from local.stack import LocalStack
from local.usage import Usage

logger = logging.getLogger("local.serve")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the local stack until interrupted")
    parser.add_argument("--config-out", type=Path, help="write the stack's config JSON here")
    parser.add_argument("--writer-window", type=float, default=None,
                        help="writer batch window in seconds (default: the setting)")
    parser.add_argument("--visibility-timeout", type=int, default=None,
                        help="events queue visibility timeout in seconds (fast redrive tests)")
    parser.add_argument("--max-receive-count", type=int, default=None,
                        help="receives before a message moves to the DLQ (default: the setting)")
    parser.add_argument("--checkpoint-interval", type=float, default=60.0,
                        help="seconds between signed checkpoints (on AWS: checkpoint_interval_minutes)")
    parser.add_argument("--monitor-interval", type=float, default=300.0,
                        help="seconds between monitor evaluations (on AWS: every 5 minutes)")
    parser.add_argument("--recovery-interval", type=float, default=60.0,
                        help="seconds between recovery sweeps, which log files the writer stored and did not "
                        "(on AWS: every 5 minutes)")
    parser.add_argument("--monitors", default=None, metavar="FILE",
                        help="the monitors file (default: lambdas/mlaudit/monitors/monitors.json)")
    parser.add_argument("--iam-report", type=Path,
                        help="on exit, write what each function was allowed and denied here (JSON)")
    parser.add_argument("--usage-report", type=Path,
                        help="on exit, write every AWS call, invocation and request each function made, "
                        "with bytes and DynamoDB capacity units, here (JSON; local/usage.py)")
    parser.add_argument("--withhold", action="append", default=[], metavar="FUNCTION:ACTION",
                        help="withhold one declared action from a function (or, as RESOURCE:SID, one statement "
                        "of a resource policy, e.g. ALARM_TOPIC:CloudWatchAlarmsPublish), to see what AWS would deny")
    parser.add_argument("--faults", default="", metavar="FUNCTION:SERVICE:OPERATION[:P[:before|after]],...",
                        help="AWS calls of the functions that fail on purpose (local/faults.py)")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a deployment setting over cdk.json's, as -c NAME=VALUE gives the CDK app "
                        "(e.g. capture_sagemaker=true)")
    parser.add_argument("--log-level", default="INFO")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sys.stdout = WholeLines(sys.stdout)  # the functions' threads share it (local/runtime.py)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.config_out and _running(args.config_out):
        logger.error("a local stack is already running with the config %s: stop it first (Ctrl-C), or give this "
                     "one another --config-out", args.config_out)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: its terminal was closed
        signal.signal(signum, lambda *_: stop.set())

    withheld: dict[str, set[str]] = {}
    for item in args.withhold:
        function, _, action = item.partition(":")
        withheld.setdefault(function, set()).add(action)
    stack = LocalStack(
        Settings.from_cdk_json(overrides=dict(item.partition("=")[::2] for item in args.setting)),
        writer_window=args.writer_window,
        checkpoint_interval=args.checkpoint_interval,
        monitor_interval=args.monitor_interval,
        monitors_file=args.monitors,
        recovery_interval=args.recovery_interval,
        usage=Usage() if args.usage_report else None,
        overrides=Overrides(
            visibility_timeout_seconds=args.visibility_timeout, max_receive_count=args.max_receive_count
        ),
    )
    stack.withheld = withheld
    stack.faults = FaultPlan.parse(args.faults)
    config: dict | None = None
    try:
        config = stack.start()
        if args.config_out:
            write_config(args.config_out, config)
        logger.info("local stack up: api %s, token %s, aws %s",
                    config["api_url"], config["token_url"], config["aws_endpoint_url"])
        while not stop.wait(0.5):
            pass
        logger.info("stopping")
    finally:
        # The config names ports that are about to close: a file left behind would send the
        # next command to a stack that is gone.
        if args.config_out and config is not None:
            remove_config(args.config_out, config)
        report = stack.iam_report()
        stack.stop()
        if args.iam_report:
            write_config(args.iam_report, report)
        if stack.usage is not None:
            write_config(args.usage_report, stack.usage.report())
    logger.info("stopped")
    return 0


def _running(path: Path) -> bool:
    """True when `path` is the config of a stack that still answers."""
    from local import client  # noqa: PLC0415

    try:
        config = json.loads(path.read_text())
        return isinstance(config, dict) and client.answers(config)
    except (OSError, ValueError, KeyError):
        return False


def remove_config(path: Path, config: dict) -> None:
    """Remove the config file this stack wrote, unless another stack has written it since."""
    try:
        if json.loads(path.read_text()).get("api_url") == config["api_url"]:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def write_config(path: Path, config: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(config, handle, indent=2)
    os.replace(temporary, path)
