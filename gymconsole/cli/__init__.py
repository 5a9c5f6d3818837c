"""The ``gymconsole`` command: the console by default, headless subcommands for everything else.

Each subcommand lives in its own module with ``add_parser(subparsers)``; the
parser sets ``args.handler``.  Bad usage or configuration exits 2 with one
line; nothing reaches the user as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from gymconsole import __version__
from gymconsole.cli.common import UsageError, add_common, fail

SUBCOMMANDS = ["init", "tool", "run", "workflows", "history", "approvals", "scheduler", "outbox", "import", "backup",
               "service", "ask", "questions", "rules"]


def _command_in(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not an option or an option's value)."""
    takes_value = False
    for token in argv:
        if takes_value:
            takes_value = False
        elif token in ("--config", "--db"):
            takes_value = True
        elif not token.startswith("-"):
            return token
    return None


def _needed(argv: list[str]) -> list[str]:
    """Import only the subcommand in use: the console's first paint should not pay for the others."""
    command = _command_in(argv)
    if command in SUBCOMMANDS:
        return [command]
    if command is None and not {"-h", "--help"} & set(argv):
        return []
    return SUBCOMMANDS  # help, or an unknown word: argparse lists them all


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2) like every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` only the subcommand it names is imported."""
    parser = OneLineParser(prog="gymconsole", description="A gym's operations console.")
    parser.add_argument("--version", action="version", version=f"gymconsole {__version__}")
    add_common(parser)
    parser.add_argument("--offline", action="store_true", help="never call Claude; run the offline playbooks")
    parser.add_argument("--dry-run", action="store_true", help="acting tools only report what they would do")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS if argv is None else _needed(argv):
        try:
            module = importlib.import_module(f"gymconsole.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"gymconsole.cli.{name}":
                raise
            continue  # a subcommand not built yet
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from gymconsole.cli.streams import make_output_safe

    make_output_safe()  # before anything prints, --help included
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
        handler = getattr(args, "handler", None)
        if handler is None:
            from gymconsole.cli.console import run_console

            handler = run_console
        return int(handler(args) or 0)
    except UsageError as exc:
        return fail(str(exc), 2)
    except KeyboardInterrupt:
        return fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
