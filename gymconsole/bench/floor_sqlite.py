"""The small tools' floor: the very statements a tool ran, on a plain ``sqlite3`` connection.

``capture`` records the statements (with their parameters filled in, as
SQLite expands them) while a tool runs; ``raw_timer`` runs them again, one
after the other, on its own connection: what the query costs without the tool
around it (validation, the database thread, shaping and bounding the result).
The indexes are the hand-written ones from ``db/schema.py``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path


def raw_timer(path: Path, statements: list[str]) -> tuple[Callable[[], float], Callable[[], None]]:
    """A timer of the statements on a plain connection, and its closer."""
    conn = sqlite3.connect(path)

    def run() -> float:
        started = time.perf_counter()
        for sql in statements:
            conn.execute(sql).fetchall()
        return time.perf_counter() - started

    return run, conn.close
