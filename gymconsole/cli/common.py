"""What every subcommand shares: options, config loading, one-line errors."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # imported where used: `--version` and `--help` load neither the configuration nor the database
    from gymconsole.config import Config

T = TypeVar("T")
DEFAULT_CONFIG = "config.toml"
CONFIG_HELP = ("config file (default: $GYMCONSOLE_CONFIG, else ./config.toml, else config.toml in the per-user "
               "config folder; `gymconsole init` writes one)")


class UsageError(Exception):
    """Bad usage, configuration or input: one line, exit 2."""


class CommandFailed(Exception):
    """The command could not do its work (a busy database, a full disk): one line, exit 1."""


class TerminalWaitNote:
    """Shows "waiting for the database ..." on stderr while a writer waits: rewritten in place on a terminal,
    a line every 10 s otherwise (a log, a pipe)."""

    def __init__(self) -> None:
        self._shown = -1.0

    def __call__(self, seconds: float | None) -> None:
        from gymconsole.db.connection import wait_note

        tty = sys.stderr.isatty()
        if seconds is None:
            if tty and self._shown >= 0:
                print("\r\033[K", end="", file=sys.stderr, flush=True)
            self._shown = -1.0
            return
        if tty:
            print(f"\rgymconsole: {wait_note(seconds)}\033[K", end="", file=sys.stderr, flush=True)
            self._shown = seconds
        elif self._shown < 0 or seconds - self._shown >= 10:
            print(f"gymconsole: {wait_note(seconds)}", file=sys.stderr, flush=True)
            self._shown = seconds


def add_common(parser: argparse.ArgumentParser) -> None:
    """--config and --db, accepted before or after the subcommand."""
    parser.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    parser.add_argument("--db", default=argparse.SUPPRESS, help="database file (default: from the config)")


SQLITE_MAX_INT = 2**63 - 1


def record_id(text: str) -> int:
    """An argparse type for IDs and counts: a whole number SQLite can hold (1 .. 2**63-1)."""
    try:
        value = int(text.strip().lstrip("#"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= SQLITE_MAX_INT:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range (1 to {SQLITE_MAX_INT})")
    return value


def fail(message: str, code: int) -> int:
    from gymconsole.present.sanitize import visible

    print(f"gymconsole: {visible(message)}", file=sys.stderr)
    return code


def quiet_sdk_logs() -> None:
    """Keep request bodies (member data) and headers out of logs whatever the environment says."""
    for name in ("anthropic", "httpx", "httpx2", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


class _OneLine(logging.Formatter):
    """Warnings on the terminal as one line each; the traceback goes to the log file only."""

    def format(self, record: logging.LogRecord) -> str:
        from gymconsole.present.sanitize import visible

        text = f"gymconsole: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]}; details in the log file)"
        return " ".join(visible(text).split())


def setup_logging(config: Config, *, terminal: bool, log_name: str | None = None) -> None:
    """Full records to ``gymconsole.log`` beside the database (see :mod:`gymconsole.logfile`); one-line
    warnings on stderr.

    The full-screen console passes ``terminal=False``: writing to the terminal
    under Textual would garble the screen.
    """
    logging.raiseExceptions = False  # a log file on a full disk must not print tracebacks under the one line
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_gymconsole", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.INFO)
    handlers: list[logging.Handler] = []
    from gymconsole.logfile import file_handler

    try:
        folder = config.database_path().parent
        handlers.append(file_handler(folder, log_name) if log_name else file_handler(folder))
    except OSError:
        pass  # a read-only folder: the terminal handler below still reports problems
    if terminal:
        stream = logging.StreamHandler(sys.stderr)
        stream.setLevel(logging.WARNING)
        stream.setFormatter(_OneLine())
        handlers.append(stream)
    for handler in handlers:
        handler._gymconsole = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    quiet_sdk_logs()


def load_env(config_path: str | Path) -> None:
    """Read `.env` beside the config file, then from the working folder (never overriding the real environment)."""
    for folder in dict.fromkeys([Path(config_path).resolve().parent, Path.cwd().resolve()]):
        if (folder / ".env").is_file():  # python-dotenv is imported only when there is a file for it
            from dotenv import load_dotenv

            load_dotenv(folder / ".env", override=False)


def config_from(args: argparse.Namespace) -> Config:
    """The configuration named by --config, with --db applied; ConfigError becomes UsageError."""
    from gymconsole.config import ConfigError
    from gymconsole.db import configure_waiting
    from gymconsole.paths import NoConfig, find_config

    try:
        path = find_config(getattr(args, "config", None))
    except NoConfig as exc:
        raise UsageError(str(exc)) from None
    load_env(path)
    quiet_sdk_logs()
    from gymconsole.config_cache import load_config_cached

    try:
        config = load_config_cached(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    db = getattr(args, "db", None)
    if db:
        config = config.model_copy(update={"database": config.database.model_copy(update={"path": str(Path(db).resolve())}),
                                           "file_keys": config.file_keys | {"database.path"}})
    setup_logging(config, terminal=getattr(args, "command", None) is not None)
    configure_waiting(config.database.busy_wait_seconds, TerminalWaitNote())
    return config


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; a missing or unusable database is a UsageError (one line, exit 2), a busy one or a
    refusing disk a CommandFailed (one line, exit 1)."""
    import asyncio

    from gymconsole.db import DatabaseBusy, DatabaseError, DatabaseFault

    try:
        return asyncio.run(coro)
    except (DatabaseBusy, DatabaseFault) as exc:
        raise CommandFailed(str(exc)) from None
    except DatabaseError as exc:
        raise UsageError(str(exc)) from None


def print_json(value: Any) -> None:
    import json

    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))
