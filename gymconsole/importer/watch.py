"""The watch folder: exports dropped in a folder are imported before the workflows that read them run.

With ``[import] watch_folder = "exports"``, each file matching a table's
pattern (``[import] files``) is imported, oldest first and members before the
tables that refer to them, then moved with its report beside it: to
``exports/imported/`` when every row went in, to ``exports/failed/`` when some
rows were rejected (the valid ones are imported; the rejects file lies beside
it) or the file could not be used at all (nothing changed).  A file in
``failed/`` raises an alert.  Each import is a run in the history; an unusable
file is recorded as a failed run with the reason.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from gymconsole.clock import Clock, iso
from gymconsole.config import Config
from gymconsole.db import Database
from gymconsole.importer.load import IMPORT_WORKFLOW
from gymconsole.importer.reader import UnusableFile
from gymconsole.importer.service import UnknownMapping, import_file
from gymconsole.importer.tables import TABLES

log = logging.getLogger(__name__)

SETTLE_SECONDS = 5.0
"""A file modified more recently than this may still be being written (Excel, a sync client): next time."""
Alert = Callable[[str], Awaitable[object]]


@dataclass
class WatchResult:
    """What became of one watched file."""

    table: str
    file: str
    outcome: str  # imported, rejected_rows, unusable
    moved_to: str
    summary: str


def watch_path(config: Config) -> Path | None:
    """The configured watch folder, resolved against the config file's folder (None when not configured)."""
    folder = config.import_.watch_folder
    if not folder:
        return None
    path = Path(folder).expanduser()
    if not path.is_absolute() and config.source_path is not None:
        path = config.source_path.parent / path
    return path


class WatchFolder:
    """Imports what was dropped in the watch folder; one scan at a time per process."""

    def __init__(self, db: Database, config: Config, clock: Clock, *, alert: Alert | None = None,
                 settle_seconds: float = SETTLE_SECONDS) -> None:
        self.db, self.config, self.clock, self.alert = db, config, clock, alert
        self.folder = watch_path(config)
        self.settle_seconds = settle_seconds
        self._lock = asyncio.Lock()

    def waiting(self) -> list[tuple[str, Path]]:
        """``(table, file)`` ready to import, in the order they should be imported."""
        if self.folder is None or not self.folder.is_dir():
            return []
        patterns = self.config.import_.files
        now = time.time()
        found: list[tuple[int, float, str, Path]] = []
        for entry in os.scandir(self.folder):
            if not entry.is_file() or entry.name.startswith(("~$", ".")) or entry.name.endswith(".report.json"):
                continue
            mtime = entry.stat().st_mtime
            if now - mtime < self.settle_seconds:
                continue
            for order, table in enumerate(TABLES):
                pattern = patterns.get(table)
                if pattern and fnmatch.fnmatch(entry.name.lower(), pattern.lower()):
                    found.append((order, mtime, table, Path(entry.path)))
                    break
        return [(table, path) for _, _, table, path in sorted(found)]

    async def before_run(self, workflow: str) -> None:
        """The scheduler's hook: bring in new exports before a scheduled run reads the tables."""
        await self.scan()

    async def scan(self) -> list[WatchResult]:
        async with self._lock:
            results = []
            for table, path in self.waiting():
                result = await self._one(table, path)
                if result is not None:
                    results.append(result)
            return results

    async def _one(self, table: str, path: Path) -> WatchResult | None:
        stamp = iso(self.clock.now()).replace(":", "").replace("-", "")
        failed = path.parent / "failed"
        rejects = failed / f"{stamp}-{path.stem}.rejects.csv"
        failed.mkdir(exist_ok=True)
        try:
            report = await import_file(self.db, self.config, self.clock, table, path, via="watch",
                                       mapping=self.config.import_.watch_mapping or None, rejects_path=rejects,
                                       signature=f"{path.name}:{path.stat().st_size}")
        except FileNotFoundError:
            return None  # another gymconsole took it first
        except (UnusableFile, UnknownMapping, OSError) as exc:
            reason = str(exc)
            moved = self._move(path, failed, stamp, {"table": table, "file": path.name, "error": reason})
            await self._record_failure(table, path.name, reason)
            await self._alert(f"gymconsole: the {table} export {path.name} could not be imported: {reason} "
                              f"(moved to {moved.parent.name}/)")
            return WatchResult(table, path.name, "unusable", str(moved), reason)
        data = report.as_json()
        if report.rejected:
            moved = self._move(path, failed, stamp, data)
            await self._alert(f"gymconsole: {report.rejected:,} rows of the {table} export {path.name} were "
                              f"rejected ({report.summary()}); the rest were imported. The file and its rejects "
                              f"are in {moved.parent.name}/")
            return WatchResult(table, path.name, "rejected_rows", str(moved), report.summary())
        moved = self._move(path, path.parent / "imported", stamp, data)
        return WatchResult(table, path.name, "imported", str(moved), report.summary())

    def _move(self, path: Path, folder: Path, stamp: str, report: dict[str, object]) -> Path:
        folder.mkdir(exist_ok=True)
        target = folder / f"{stamp}-{path.name}"
        os.replace(path, target)
        target.with_name(target.name + ".report.json").write_text(
            json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
        return target

    async def _record_failure(self, table: str, name: str, reason: str) -> None:
        now = iso(self.clock.now())
        async with self.db.write() as tx:
            await tx.insert(
                "INSERT INTO runs (workflow, trigger, mode, dry_run, status, started_at, ended_at, summary, error) "
                "VALUES (?, 'schedule', 'offline', 0, 'failed', ?, ?, ?, ?)",
                [IMPORT_WORKFLOW, now, now, f"Import of {name} into {table} failed: nothing changed", reason])

    async def _alert(self, line: str) -> None:
        log.warning("%s", line)
        if self.alert is None:
            return
        try:
            await self.alert(line)
        except Exception:
            log.exception("alerting about a watched import failed")
