"""Consistent copies of the gym's database, taken while the console and the service keep working.

SQLite's online backup API copies the database page by page under a read
transaction, so the copy is a snapshot of one moment with every transaction
committed before it, whatever else writes meanwhile (WAL readers never block
the writer).  Copies are created 0600 in a 0700 folder on POSIX.

The scheduler keeps a daily copy in ``backups/`` beside the database and
deletes copies older than ``backup.keep_days``.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from gymconsole.paths import private_dir, private_file

BACKUP_FOLDER = "backups"
NAME = re.compile(r"^(?P<stem>.+)-(?P<stamp>\d{8}-\d{6})\.db$")
PAGES_PER_STEP = -1
"""All pages in one step, under one read snapshot: writers carry on (WAL), and a copy made in several steps
would start over after every write by another connection, never finishing on a busy database."""


class BackupError(Exception):
    """A backup could not be made; the message is one line."""


def default_folder(database: Path) -> Path:
    return database.parent / BACKUP_FOLDER


def backup_name(database: Path, moment: datetime) -> str:
    return f"{database.stem}-{moment.strftime('%Y%m%d-%H%M%S')}.db"


def backup_database(database: Path, target: Path) -> Path:
    """Copy ``database`` to ``target`` (a new file) with the online backup API; returns the target.

    Blocking: call it in a thread from async code.
    """
    if not database.is_file():
        raise BackupError(f"{database}: no database here")
    if target.exists():
        raise BackupError(f"{target}: already exists (name a new file)")
    private_dir(target.parent)
    private_file(target)
    try:
        source = sqlite3.connect(f"file:{database.as_posix()}?mode=ro", uri=True, timeout=30)
        try:
            copy = sqlite3.connect(target)
            try:
                source.backup(copy, pages=PAGES_PER_STEP)
                ok = copy.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                copy.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise BackupError(f"backing up {database} failed: {exc}") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if ok != "ok":
        target.unlink(missing_ok=True)
        raise BackupError(f"the copy of {database} failed its integrity check: {ok}")
    return target


def prune_backups(folder: Path, database: Path, keep_days: int, now: datetime) -> list[Path]:
    """Delete this database's dated copies older than ``keep_days``; returns what was deleted."""
    if not folder.is_dir():
        return []
    cutoff = (now - timedelta(days=keep_days)).strftime("%Y%m%d-%H%M%S")
    deleted = []
    for path in sorted(folder.glob(f"{database.stem}-*.db")):
        match = NAME.match(path.name)
        if match and match["stem"] == database.stem and match["stamp"] < cutoff:
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted


def daily_backup(database: Path, keep_days: int, now: datetime) -> tuple[Path | None, list[Path]]:
    """Today's copy in ``backups/`` (unless one was made today) and the pruning of old ones (blocking)."""
    folder = default_folder(database)
    today = f"{database.stem}-{now.strftime('%Y%m%d')}-"
    made = None
    if not (folder.is_dir() and any(p.name.startswith(today) for p in folder.iterdir())):
        made = backup_database(database, folder / backup_name(database, now))
    return made, prune_backups(folder, database, keep_days, now)
