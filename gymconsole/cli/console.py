"""``gymconsole`` with no subcommand: the full-screen console.

Configuration and database problems are found before the screen is taken
over, so they end as one line on stderr and exit code 2, never as a broken
terminal.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gymconsole.cli.common import UsageError, config_from, run_async


async def _check_database(path: Path) -> None:
    """Open (and migrate) the database once, so a missing or corrupt file fails here, in one line."""
    from gymconsole.db import Database

    database = await Database.open(path)
    await database.close()


def run_console(args: argparse.Namespace) -> int:
    """Open the console; returns the exit code."""
    config = config_from(args)
    db_path = config.database_path()
    run_async(_check_database(db_path))
    if not (os.isatty(0) and os.isatty(1)):
        raise UsageError("the console needs a terminal; use a subcommand (see `gymconsole --help`)")

    from gymconsole.tui.app import make_app

    app = make_app(config, db_path=db_path, offline=bool(getattr(args, "offline", False)),
                   dry_run=True if getattr(args, "dry_run", False) else None,
                   base_url=os.environ.get("ANTHROPIC_BASE_URL") or None)
    result = app.run()
    if app.startup_error:
        raise UsageError(app.startup_error)
    return int(result or 0)
