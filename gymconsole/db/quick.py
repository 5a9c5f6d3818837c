"""Short reads answered on the calling thread, without a trip to the database thread.

Every aiosqlite call is a hop to its worker thread and back: about 0.1 ms of
CPU on an idle machine, and a scheduler wake-up on a busy one (measured 0.3-0.9
ms wall on this project's loaded 2-core machine), which was most of what a
small tool cost beyond its query.  A read tool's statements take well under a
millisecond, less than the hop; running them where the tool runs (the event
loop) costs less than waiting for another thread to do it.

The loop must never stall behind a slow query, though, so every batch runs
under a CPU budget enforced by SQLite's progress handler: past it the
statement is interrupted, remembered as slow, and the batch goes to the
database thread as before (and so do later runs of that statement, but for
one in RETRY_EVERY, which tries here again: a first run slowed by a cold
cache or a busy machine is not held against it for good).
The connection is a second one on the same file, opened on first use, read-only
(``query_only``) and never waiting for a lock (``busy_timeout = 0``): a busy
file also sends the batch to the thread, whose connection knows how to wait.
It reads what is committed, never another coroutine's half-done write.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BUDGET_SECONDS = 0.015
"""Most CPU a batch may spend on the loop's thread: under a frame (16 ms), so a key press is never noticeably late;
room for a statement of a few milliseconds made slower by a busy machine (two cores, shared)."""
PROGRESS_STEPS = 2_000
"""SQLite virtual-machine steps between two looks at the budget (a few microseconds apart)."""
MAX_REMEMBERED = 256
RETRY_EVERY = 32
"""A statement remembered as slow is tried here again once in this many runs (a budget's worth of waste, 3 %)."""

Queries = Sequence[tuple[str, Any]]
RowFactory = Callable[[sqlite3.Cursor, tuple[Any, ...]], Any]


class QuickReads:
    """A read-only connection for short batches on the event loop's thread (see the module doc)."""

    def __init__(self, target: str | Path, *, uri: bool, row_factory: RowFactory) -> None:
        self._target = target
        self._uri = uri
        self._row_factory = row_factory
        self._conn: sqlite3.Connection | None = None
        self._deadline = 0.0
        self._slow: dict[str, int] = {}
        """Statements stopped at the budget -> how many times they were sent to the thread since."""
        self._trace: Callable[[str], None] | None = None
        self.closed = False

    def run(self, queries: Queries) -> list[list[Any]] | None:
        """Every query's rows, or None: over the budget, busy or unusable here (the caller uses the thread)."""
        if self.closed or not self._worth_trying(queries):
            return None
        try:
            conn = self._conn or self._open()
            self._deadline = time.thread_time() + BUDGET_SECONDS
            results = []
            for sql, params in queries:
                try:
                    results.append(conn.execute(sql, params).fetchall())
                except sqlite3.OperationalError as exc:
                    if "interrupted" in str(exc):
                        self._remember_slow(sql)
                    raise
                self._slow.pop(sql, None)  # quick (again): a slow first run (a cold cache, a busy machine) is forgiven
            return results
        except sqlite3.Error as exc:  # the database thread runs it again and reports what is wrong there
            log.debug("quick read handed to the database thread: %s", exc)
            return None

    def set_trace_callback(self, callback: Callable[[str], None] | None) -> None:
        """Told each statement run here, as :meth:`sqlite3.Connection.set_trace_callback`."""
        self._trace = callback
        if self._conn is not None:
            self._conn.set_trace_callback(callback)

    def close(self) -> None:
        self.closed = True
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._target, uri=self._uri, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 0")
            conn.execute("PRAGMA query_only = 1")
            conn.row_factory = self._row_factory
            conn.set_progress_handler(self._over_budget, PROGRESS_STEPS)
            conn.set_trace_callback(self._trace)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _over_budget(self) -> int:
        return int(time.thread_time() > self._deadline)

    def _worth_trying(self, queries: Queries) -> bool:
        """False while a statement of the batch is remembered as slow, except every RETRY_EVERY-th time."""
        slow = [sql for sql, _ in queries if sql in self._slow]
        for sql in slow:
            self._slow[sql] += 1
        return not slow or all(self._slow[sql] % RETRY_EVERY == 0 for sql in slow)

    def _remember_slow(self, sql: str) -> None:
        if sql not in self._slow and len(self._slow) >= MAX_REMEMBERED:
            self._slow.clear()
        self._slow.setdefault(sql, 0)
