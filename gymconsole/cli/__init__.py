"""The ``gymconsole`` command: the console by default, headless subcommands for everything else.

Each subcommand lives in its own module with ``add_parser(subparsers)``; the
parser sets ``args.handler``.  Bad usage or configuration exits 2 with one
line; nothing reaches the user as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from gymconsole import __version__
from gymconsole.cli.common import UsageError, add_common, fail

SUBCOMMANDS = ["init", "tool", "run", "workflows", "history", "approvals", "scheduler", "outbox"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gymconsole", description="A gym's operations console.")
    parser.add_argument("--version", action="version", version=f"gymconsole {__version__}")
    add_common(parser)
    parser.add_argument("--offline", action="store_true", help="never call Claude; run the offline playbooks")
    parser.add_argument("--dry-run", action="store_true", help="acting tools only report what they would do")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"gymconsole.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"gymconsole.cli.{name}":
                raise
            continue  # a subcommand not built yet
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        from gymconsole.cli.console import run_console

        handler = run_console
    try:
        return int(handler(args) or 0)
    except UsageError as exc:
        return fail(str(exc), 2)
    except KeyboardInterrupt:
        return fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
