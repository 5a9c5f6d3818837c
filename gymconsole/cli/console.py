"""``gymconsole`` with no subcommand: the full-screen console.

Configuration and database problems are found before the screen is taken
over, so they end as one line on stderr and exit code 2, never as a broken
terminal.  The database opened for that check is the one the console then
uses (one event loop from start to end): it is opened once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from gymconsole.cli.common import UsageError, config_from
from gymconsole.config import Config


async def _console(config: Config, args: argparse.Namespace) -> tuple[Any, str | None]:
    """Open the database, then run the console on it; ``(the app's result, its start-up error)``."""
    from gymconsole.db import Database, DatabaseError

    try:
        database = await Database.open(config.database_path())
    except DatabaseError as exc:
        raise UsageError(str(exc)) from None
    try:
        if not (os.isatty(0) and os.isatty(1)):
            raise UsageError("the console needs a terminal; use a subcommand (see `gymconsole --help`)")
        from gymconsole.tui.app import make_app

        app = make_app(config, db_path=config.database_path(), offline=bool(getattr(args, "offline", False)),
                       dry_run=True if getattr(args, "dry_run", False) else None,
                       base_url=os.environ.get("ANTHROPIC_BASE_URL") or None, database=database)
        result = await app.run_async()
        return result, app.startup_error
    finally:
        await database.close()


def run_console(args: argparse.Namespace) -> int:
    """Open the console; returns the exit code."""
    config = config_from(args)
    result, startup_error = asyncio.run(_console(config, args))
    if startup_error:
        raise UsageError(startup_error)
    return int(result or 0)
