"""Short reads run where the tool runs; a long one is stopped at its budget and goes to the database thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gymconsole.db import Database, open_database
from gymconsole.db import quick

COUNT_TO = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) SELECT SUM(i) AS total FROM n"


def count_trips(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    trips: list[str] = []
    real = db._conn._execute

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", "?"))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(db._conn, "_execute", counted)
    return trips


async def test_a_read_past_its_budget_is_stopped_and_answered_by_the_database_thread(
        demo_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    trips = count_trips(demo_db, monkeypatch)
    n = 500_000  # far more SQLite steps than the budget allows on any machine (~0.2 s)
    [[row]] = await demo_db.fetch_batch([(COUNT_TO, [n])])
    assert row["total"] == n * (n + 1) // 2
    assert len(trips) == 1, "the quick attempt was interrupted, then the thread ran it whole"
    assert demo_db._quick is not None and COUNT_TO in demo_db._quick._slow
    seen: list[str] = []
    await demo_db.set_trace_callback(seen.append)
    [[again]] = await demo_db.fetch_batch([(COUNT_TO, [10])])
    await demo_db.set_trace_callback(None)
    reads = [trip for trip in trips if trip == "run"]  # not the trace callback's own two trips
    assert again["total"] == 55 and len(reads) == 2 and len(seen) == 1, "remembered as slow: straight to the thread"
    [[short]] = await demo_db.fetch_batch([("SELECT COUNT(*) AS n FROM members", [])])
    assert short["n"] > 0 and len(trips) == 4, "other reads still make no trip"
    for _ in range(quick.RETRY_EVERY - 2):  # sent to the thread, until its turn to be tried here again comes
        await demo_db.fetch_batch([(COUNT_TO, [10])])
    assert len(trips) == 4 + quick.RETRY_EVERY - 2 and COUNT_TO in demo_db._quick._slow
    [[small]] = await demo_db.fetch_batch([(COUNT_TO, [10])])  # tried here again: quick now, so forgiven
    assert small["total"] == 55 and len(trips) == 4 + quick.RETRY_EVERY - 2 and COUNT_TO not in demo_db._quick._slow


async def test_quick_reads_see_what_is_committed_not_a_write_in_progress(demo_db: Database) -> None:
    count = "SELECT COUNT(*) AS n FROM meta WHERE key = 'quick-test'"
    async with demo_db.write() as tx:
        await tx.execute("INSERT INTO meta (key, value) VALUES ('quick-test', 'x')")
        [[during]] = await demo_db.fetch_batch([(count, [])])
        assert during["n"] == 0
    [[after]] = await demo_db.fetch_batch([(count, [])])
    assert after["n"] == 1


async def test_the_quick_connection_cannot_write(demo_db: Database) -> None:
    assert demo_db._quick is not None
    insert = "INSERT INTO meta (key, value) VALUES ('quick-write', 'x') RETURNING key"
    assert demo_db._quick.run([(insert, [])]) is None, "refused (query_only): the caller goes to the thread"
    assert await demo_db.meta("quick-write") is None


async def test_in_memory_and_read_only_databases_read_as_before(demo_path: Path) -> None:
    async with open_database(":memory:", create=True) as memory:
        assert memory._quick is None
        [[row]] = await memory.fetch_batch([("SELECT 1 AS one", [])])
        assert row == {"one": 1}
    db = await Database._open_read_only(demo_path)  # what a read-only file or a full disk opens (root can write)
    try:
        [[row]] = await db.fetch_batch([("SELECT COUNT(*) AS n FROM members", [])])
        assert db.read_only and row["n"] > 0 and db._quick is not None and db._quick._conn is not None
    finally:
        await db.close()


async def test_closing_the_database_closes_the_quick_connection(demo_path: Path) -> None:
    db = await Database.open(demo_path)
    await db.fetch_batch([("SELECT 1 AS one", [])])
    assert db._quick is not None and db._quick._conn is not None
    await db.close()
    assert db._quick.closed and db._quick._conn is None
    assert db._quick.run([("SELECT 1", [])]) is None
    assert quick.BUDGET_SECONDS <= 0.016, "the loop may stall for a frame at most"
