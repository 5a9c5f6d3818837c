"""The scheduler's upkeep: its heartbeat, pruning old history and keeping daily copies of the database.

Each job logs its own failure and returns: an unattended service carries on, and tomorrow's run may work.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from gymconsole.clock import iso

if TYPE_CHECKING:
    from gymconsole.db import Database
    from gymconsole.engine.history import HistoryStore
    from gymconsole.engine.lease import Lease

log = logging.getLogger("gymconsole.engine.scheduler")  # one logger for the scheduler's lines

SEEN_AT = "scheduler_seen_at"
"""``meta`` key: the last moment a started scheduler was known to be running (UTC, storage format)."""


async def prune_history(history: HistoryStore, lease: Lease, now: datetime, retention_days: int) -> None:
    """Delete the events of runs older than the retention period (their rows stay) and old schedule claims."""
    try:
        deleted = await history.prune(retention_days)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("pruning the run history failed")
        return
    if deleted:
        log.info("history: pruned %d events of runs older than %d days", deleted, retention_days)
    try:
        await lease.prune(now - timedelta(days=retention_days))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("pruning the claimed schedule times failed")


async def daily_backup(db: Database, keep_days: int, local_now: datetime) -> None:
    """The daily copy of the database and the pruning of old copies (not for an in-memory database)."""
    if str(db.path) == ":memory:":
        return
    from gymconsole.backup import daily_backup as copy_and_prune

    try:
        made, pruned = await asyncio.to_thread(copy_and_prune, Path(db.path), keep_days, local_now)
    except Exception as exc:  # a full disk or the like
        log.warning("backup: the daily copy failed (%s: %s)", type(exc).__name__, exc)
        return
    if made is not None:
        log.info("backup: daily copy %s (%d older copies removed)", made, len(pruned))


async def note_heartbeat(db: Database, now: datetime) -> None:
    """Note that the scheduler is running (what the next start compares its schedules with)."""
    try:
        async with db.write() as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (SEEN_AT, iso(now)))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("noting the scheduler's heartbeat failed")
