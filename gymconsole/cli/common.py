"""What every subcommand shares: options, config loading, one-line errors."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from gymconsole.config import Config, ConfigError, load_config
from gymconsole.db import DatabaseError

T = TypeVar("T")
DEFAULT_CONFIG = "config.toml"


class UsageError(Exception):
    """Bad usage, configuration or input: one line, exit 2."""


def add_common(parser: argparse.ArgumentParser) -> None:
    """--config and --db, accepted before or after the subcommand."""
    parser.add_argument("--config", default=argparse.SUPPRESS, help=f"config file (default: {DEFAULT_CONFIG})")
    parser.add_argument("--db", default=argparse.SUPPRESS, help="database file (default: from the config)")


def fail(message: str, code: int) -> int:
    print(f"gymconsole: {message}", file=sys.stderr)
    return code


def quiet_sdk_logs() -> None:
    """Keep request bodies (member data) and headers out of logs whatever the environment says."""
    for name in ("anthropic", "httpx", "httpx2", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def load_env() -> None:
    """Read `.env` from the working folder (never overriding the real environment)."""
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)


def config_from(args: argparse.Namespace) -> Config:
    """The configuration named by --config, with --db applied; ConfigError becomes UsageError."""
    load_env()
    quiet_sdk_logs()
    path = getattr(args, "config", None) or DEFAULT_CONFIG
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    db = getattr(args, "db", None)
    if db:
        config = config.model_copy(update={"database": config.database.model_copy(update={"path": str(Path(db).resolve())}),
                                           "file_keys": config.file_keys | {"database.path"}})
    return config


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; database problems become UsageError (one line, exit 2)."""
    try:
        return asyncio.run(coro)
    except DatabaseError as exc:
        raise UsageError(str(exc)) from None


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))
