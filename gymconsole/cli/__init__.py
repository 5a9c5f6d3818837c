"""The ``gymconsole`` command: the console by default, headless subcommands for everything else.

Each subcommand lives in its own module with ``add_parser(subparsers)``; the
parser sets ``args.handler``.  Bad usage or configuration exits 2 with one
line; nothing reaches the user as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sqlite3
import sys
from typing import NoReturn

from gymconsole import __version__

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


SUMMARIES = {
    "init": "create the database (empty, or a demo gym with --demo)",
    "tool": "run one tool by hand and print its JSON result",
    "run": "run one workflow now and show it live",
    "workflows": "the workflows: schedule, next run, paused, last run",
    "history": "past runs (newest first); `history show RUN` for one run",
    "approvals": "requests waiting for a person; approve or deny them",
    "scheduler": "run the workflows on their schedules, headless",
    "outbox": "see and send the outbox; STOP replies; door drift",
    "import": "import a CSV export of the membership system",
    "backup": "copy the database safely, even while it is in use",
    "service": "run the scheduler as a service at start-up",
    "ask": "ask the assistant a question, or give it a one-off task",
    "questions": "saved questions: list, save, run, delete",
    "rules": "standing approvals: list, add, revoke",
}
"""Each subcommand's one line for ``gymconsole --help``, so the list costs no imports (a test
checks them against each module's own ``help=``; a subcommand missing here is imported)."""


def _needed(argv: list[str]) -> list[str]:
    """The subcommands to import: only the one in use (the console and ``--help`` import none)."""
    command = _command_in(argv)
    return [command] if command in SUBCOMMANDS else []


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2) like every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        from gymconsole.cli.common import UsageError

        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` only the subcommand it names is imported (the rest are listed by summary)."""
    parser = OneLineParser(prog="gymconsole", description="A gym's operations console.")
    from gymconsole.cli.common import add_common

    parser.add_argument("--version", action="version", version=f"gymconsole {__version__}")
    add_common(parser)
    parser.add_argument("--offline", action="store_true", help="never call Claude; run the offline playbooks")
    parser.add_argument("--dry-run", action="store_true", help="acting tools only report what they would do")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    needed = SUBCOMMANDS if argv is None else _needed(argv)
    for name in SUBCOMMANDS:
        if needed and name not in needed:
            continue  # `gymconsole tool ...` parses with the tool's parser alone; the list is for --help
        if name not in needed and name in SUMMARIES:
            subparsers.add_parser(name, help=SUMMARIES[name], add_help=False)  # listed, never parsed into
            continue
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

    # pydantic looks for plugins by scanning every installed package's entry points the first time a model is
    # built; gymconsole uses none.  Its documented switch, unless the environment already says otherwise, set
    # before gymconsole.config is imported (its models are built then): this module imports it only from here on.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from gymconsole.cli.common import CommandFailed, UsageError, fail

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
    except CommandFailed as exc:
        return fail(str(exc), 1)
    except (sqlite3.Error, OSError) as exc:  # a disk or the OS refusing, wherever it surfaced: one line
        from gymconsole.db.connection import fault

        return fail(str(fault("the database" if isinstance(exc, sqlite3.Error) else "gymconsole", exc)), 1)
    except KeyboardInterrupt:
        return fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
