"""The importer as the rest of gymconsole calls it: from the config, on an open database, off the event loop."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from zoneinfo import ZoneInfo

from gymconsole.clock import Clock
from gymconsole.config import Config
from gymconsole.db import Database
from gymconsole.importer.load import ImportReport, ImportRequest, run_import
from gymconsole.importer.reader import UnusableFile
from gymconsole.importer.rows import Mapping
from gymconsole.importer.tables import SPECS, TABLES


class UnknownMapping(ValueError):
    """``--mapping NAME`` names no mapping in the config."""


def mapping_for(config: Config, name: str | None, table: str) -> Mapping:
    """The named mapping's part for this table (empty: the default headers and synonyms)."""
    if not name:
        return Mapping()
    mappings = config.import_.mappings
    if name not in mappings:
        known = ", ".join(sorted(mappings)) or "none configured"
        raise UnknownMapping(f"no mapping named {name!r} in the config (mappings: {known})")
    part = mappings[name].get(table)
    if part is None:
        return Mapping()
    return Mapping(dict(part.columns), {k: dict(v) for k, v in part.values.items()}, part.date_order)


async def import_file(db: Database, config: Config, clock: Clock, table: str, path: Path, *, dry_run: bool = False,
                      mapping: str | None = None, rejects_path: Path | None = None, via: str = "cli",
                      partial: bool = False, signature: str = "") -> ImportReport:
    """Import one file into ``table``; raises UnusableFile (nothing changed) or UnknownMapping."""
    if table not in SPECS:
        raise UnusableFile(f"unknown table {table!r} (tables: {', '.join(TABLES)})")
    now = clock.now()
    request = ImportRequest(
        table=table, path=path, db_path=db.path, now=now,
        today=now.astimezone(ZoneInfo(config.scheduler.timezone)).date(),
        date_order=config.import_.date_order, mapping=mapping_for(config, mapping, table), dry_run=dry_run,
        partial=partial, rejects_path=rejects_path, via=via,
        red_after_days=config.thresholds.suspend_after_days, signature=signature)
    return await asyncio.to_thread(run_import, request)


def template(table: str) -> str:
    """The default header row and one example row of a table, as CSV."""
    spec = SPECS[table]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([column.name for column in spec.all_columns])
    writer.writerow([column.example for column in spec.all_columns])
    return out.getvalue()
