"""How old each table's imported data is, and when that is too old to act on.

A table's age is the time since its last applied import (dry runs leave no
record).  A table never imported holds data that came another way (the demo
gym, rows entered by hand) and is not judged by age; the demo gym always
counts as fresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from gymconsole.importer.tables import TABLES


@dataclass(frozen=True)
class Freshness:
    """One table's last import."""

    table: str
    imported_at: str | None
    file: str | None
    age_hours: float | None
    stale: bool
    rows: int = 0
    rejected: int = 0

    def describe(self) -> str:
        if self.imported_at is None:
            return f"{self.table}: never imported"
        state = "STALE, " if self.stale else ""
        return f"{self.table}: {state}as of {self.imported_at[:16].replace('T', ' ')} UTC ({self.age_hours:.0f} h ago)"


def _age_hours(now: datetime, stored: str) -> float:
    moment = datetime.fromisoformat(stored)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (now - moment).total_seconds() / 3600)


async def is_demo(db: Any) -> bool:
    return (await db.fetch_value("SELECT value FROM meta WHERE key = 'demo'")) == "1"


async def last_import(db: Any, table: str) -> dict[str, Any] | None:
    return await db.fetch_one("SELECT * FROM imports WHERE table_name = ? ORDER BY imported_at DESC, id DESC LIMIT 1",
                              [table])


async def freshness(db: Any, now: datetime, max_age_hours: float, tables: tuple[str, ...] = TABLES) -> list[Freshness]:
    """Each table's last import and whether it is too old to act on."""
    demo = await is_demo(db)
    out = []
    for table in tables:
        row = await last_import(db, table)
        if row is None:
            out.append(Freshness(table, None, None, None, False))
            continue
        age = _age_hours(now, row["imported_at"])
        out.append(Freshness(table, row["imported_at"], row["file"], age, age > max_age_hours and not demo,
                             row["rows"], row["rejected"]))
    return out


async def stale_reason(db: Any, now: datetime, max_age_hours: float, tables: tuple[str, ...]) -> str | None:
    """Why acting on these tables' data is refused now, or None: "members data is 31 h old: ..."."""
    for entry in await freshness(db, now, max_age_hours, tables):
        if entry.stale:
            return f"{entry.table} data is {entry.age_hours:.0f} h old: import a fresh export first"
    return None
