"""The run history: recording as events stream, reading pages back, interrupted runs, pruning."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import DEMO_NOW
from fakeclock import FakeClock
from helpers_history import ScriptedRunner

from gymconsole.db import Database
from gymconsole.engine import history as history_module
from gymconsole.engine.events import (
    ApprovalDecided,
    ApprovalRequested,
    EventBus,
    RunFinished,
    RunStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from gymconsole.engine.history import HistoryStore, RunRecorder
from gymconsole.engine.lease import running_elsewhere
from gymconsole.process import process_started


@pytest.fixture
async def hdb(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.open(tmp_path / "history.db", create=True)
    try:
        yield db
    finally:
        await db.close()


def wire(db: Database, clock: FakeClock) -> tuple[EventBus, RunRecorder, HistoryStore]:
    bus = EventBus()
    recorder = RunRecorder(db, clock)
    bus.subscribe(recorder)
    return bus, recorder, HistoryStore(db, clock)


async def test_a_run_is_recorded_as_it_streams(hdb: Database, clock: FakeClock) -> None:
    bus, recorder, store = wire(hdb, clock)
    run_id = await recorder.start_run("door_access", "manual", "offline", True)
    row = await store.get_run(run_id)
    assert row is not None and row["status"] == "running" and row["pid"] == os.getpid() and row["dry_run"] == 1
    emit = bus.emit
    await emit(RunStarted(run_id=run_id, workflow="door_access"))
    await emit(TextDelta(run_id=run_id, workflow="door_access", text="Looking "))
    await emit(TextDelta(run_id=run_id, workflow="door_access", text="at doors."))
    await emit(ToolCallStarted(run_id=run_id, workflow="door_access", call_id="t1", name="suspend_door_access",
                               input={"member_ids": [7, 9]}, risk="high"))
    await emit(ApprovalRequested(run_id=run_id, workflow="door_access", approval_id=3, tool="suspend_door_access",
                                 title="Suspend 2 members", plan={"items": [7, 9]}, timeout_seconds=300))
    # Committed per event: another connection already sees it while the run is still going.
    other = await Database.open(hdb.path)
    try:
        seen = await other.fetch_all("SELECT kind FROM run_events WHERE run_id = ? ORDER BY seq", (run_id,))
    finally:
        await other.close()
    assert [r["kind"] for r in seen] == ["run_started", "text", "tool_started", "approval_requested"]
    await emit(ApprovalDecided(run_id=run_id, workflow="door_access", approval_id=3, tool="suspend_door_access",
                               status="approved", via="cli", actor="manager", approved_count=2))
    await emit(ToolCallFinished(run_id=run_id, workflow="door_access", call_id="t1", name="suspend_door_access",
                                summary="2 suspended", duration_ms=12.5, risk="high", decision="approved",
                                subjects=[["member", 7], ["member", 9], ["member", 7], ["bogus"]]))
    clock.advance(90)
    await emit(RunFinished(run_id=run_id, workflow="door_access", status="succeeded", summary="Suspended 2",
                           iterations=2))
    row = await store.get_run(run_id)
    assert row is not None
    assert row["status"] == "succeeded" and row["summary"] == "Suspended 2" and row["iterations"] == 2
    assert row["ended_at"] == "2026-11-02T15:01:30" and row["subjects"] == [["member", 7], ["member", 9]]
    events = await store.events(run_id)
    assert [e.kind for e in events] == ["run_started", "text", "tool_started", "approval_requested",
                                        "approval_decided", "tool_finished", "run_finished"]
    assert isinstance(events[1], TextDelta) and events[1].text == "Looking at doors."
    finished = events[5]
    assert isinstance(finished, ToolCallFinished) and finished.decision == "approved"
    assert finished.duration_ms == 12.5 and finished.run_id == run_id and finished.workflow == "door_access"
    records = await store.event_records(run_id)
    assert [r["seq"] for r in records] == list(range(1, 8))


async def test_usage_and_iterations_keep_the_row_current(hdb: Database, clock: FakeClock) -> None:
    from gymconsole.engine.events import IterationStarted, UsageUpdated

    bus, recorder, store = wire(hdb, clock)
    run_id = await recorder.start_run("daily_campaigns", "schedule", "claude", False)
    await bus.emit(IterationStarted(run_id=run_id, workflow="daily_campaigns", iteration=3))
    await bus.emit(UsageUpdated(run_id=run_id, workflow="daily_campaigns", input_tokens=1200, output_tokens=300,
                                cache_read_tokens=800, cache_write_tokens=400, cost_usd=0.0123))
    row = await store.get_run(run_id)
    assert row is not None and row["status"] == "running"
    assert (row["iterations"], row["input_tokens"], row["output_tokens"], row["cache_read_tokens"],
            row["cache_write_tokens"], row["cost_usd"]) == (3, 1200, 300, 800, 400, 0.0123)


async def test_ten_thousand_text_chunks_are_coalesced(hdb: Database, clock: FakeClock) -> None:
    bus, recorder, store = wire(hdb, clock)
    run_id = await recorder.start_run("daily_campaigns", "manual", "claude", False)
    chunks = [f"w{i} " for i in range(10_000)]
    for chunk in chunks:
        await bus.emit(TextDelta(run_id=run_id, workflow="daily_campaigns", text=chunk))
    await bus.emit(RunFinished(run_id=run_id, workflow="daily_campaigns", status="succeeded"))
    events = await store.events(run_id)
    texts = [e for e in events if isinstance(e, TextDelta)]
    total = sum(len(c) for c in chunks)
    assert len(texts) <= total // history_module.TEXT_FLUSH_BYTES + 2  # ~30 writes, not 10,000
    assert "".join(t.text for t in texts) == "".join(chunks)
    assert all(len(t.text.encode()) <= history_module.TEXT_FLUSH_BYTES + 16 for t in texts)


async def test_buffered_text_is_flushed_after_half_a_second(hdb: Database, clock: FakeClock,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    bus, recorder, store = wire(hdb, clock)
    run_id = await recorder.start_run("daily_campaigns", "manual", "claude", False)
    # Clock time: a chunk arriving 0.5 s (fake) after the first one flushes the buffer.
    await bus.emit(TextDelta(run_id=run_id, workflow="daily_campaigns", text="a"))
    clock.advance(0.6)
    await bus.emit(TextDelta(run_id=run_id, workflow="daily_campaigns", text="b"))
    assert [e.text for e in await store.events(run_id) if isinstance(e, TextDelta)] == ["ab"]
    # Timer: a stream that stalls is still written (the timer is made short here to keep the test fast).
    monkeypatch.setattr(history_module, "TEXT_FLUSH_SECONDS", 0.01)
    await bus.emit(TextDelta(run_id=run_id, workflow="daily_campaigns", text="stalled"))
    await asyncio.sleep(0.05)
    await recorder.flush()
    assert [e.text for e in await store.events(run_id) if isinstance(e, TextDelta)] == ["ab", "stalled"]


async def test_record_skipped_and_unknown_runs(hdb: Database, clock: FakeClock) -> None:
    bus, recorder, store = wire(hdb, clock)
    run_id = await recorder.record_skipped("door_access", "schedule", "missed", "late by 12 min")
    row = await store.get_run(run_id)
    assert row is not None and (row["status"], row["summary"], row["trigger"]) == ("missed", "late by 12 min",
                                                                                   "schedule")
    assert [e.kind for e in await store.events(run_id)] == ["notice"]
    with pytest.raises(ValueError):
        await recorder.record_skipped("door_access", "schedule", "succeeded", "no")
    # An event for a run that does not exist is dropped (logged), never raised into the run.
    await recorder(RunStarted(run_id=9999, workflow="x"))
    assert await hdb.fetch_value("SELECT COUNT(*) FROM run_events WHERE run_id = 9999") == 0


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_mark_interrupted_only_touches_runs_of_dead_processes(hdb: Database, clock: FakeClock) -> None:
    bus, recorder, store = wire(hdb, clock)
    mine = await recorder.start_run("door_access", "manual", "offline", False)
    dead = await recorder.start_run("invoice_review", "schedule", "offline", False)
    alive = await recorder.start_run("referral_check", "schedule", "offline", False)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        async with hdb.write() as tx:
            await tx.execute("UPDATE runs SET pid = ? WHERE id = ?", (_dead_pid(), dead))
            await tx.execute("UPDATE runs SET pid = ?, pid_started = ? WHERE id = ?",
                             (sleeper.pid, process_started(sleeper.pid), alive))
        assert await store.mark_interrupted() == 1
    finally:
        sleeper.kill()
        sleeper.wait()
    statuses = {r["id"]: r["status"] for r in await store.list_runs()}
    assert statuses == {mine: "running", dead: "interrupted", alive: "running"}
    row = await store.get_run(dead)
    assert row is not None and "stopped" in row["error"] and row["ended_at"]
    last = (await store.events(dead))[-1]
    assert isinstance(last, RunFinished) and last.status == "interrupted"
    assert await store.mark_interrupted() == 1  # the sleeper has been killed meanwhile
    assert await store.mark_interrupted() == 0


async def test_a_run_whose_pid_the_os_gave_to_another_process_is_interrupted(hdb: Database, clock: FakeClock) -> None:
    """Over months pids come round again: a live process that merely has the run's old pid is not its process."""
    _bus, recorder, store = wire(hdb, clock)
    reused = await recorder.start_run("door_access", "schedule", "offline", False)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        async with hdb.write() as tx:  # the run's process was an earlier one that had the sleeper's pid
            await tx.execute("UPDATE runs SET pid = ?, pid_started = 'an-earlier-boot:12345' WHERE id = ?",
                             (sleeper.pid, reused))
        assert await running_elsewhere(hdb, "door_access") is None  # the service does not skip for it either
        assert await store.mark_interrupted() == 1
        honest = await recorder.start_run("door_access", "manual", "offline", False)
        async with hdb.write() as tx:  # the sleeper's own run, as a console in another process would record it
            await tx.execute("UPDATE runs SET pid = ?, pid_started = ? WHERE id = ?",
                             (sleeper.pid, process_started(sleeper.pid), honest))
        assert await running_elsewhere(hdb, "door_access") == (honest, sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    row = await store.get_run(reused)
    assert row is not None and row["status"] == "interrupted" and f"pid {sleeper.pid}" in row["error"]


async def _fill(recorder: RunRecorder, bus: EventBus, clock: FakeClock) -> dict[str, list[int]]:
    ids: dict[str, list[int]] = {}
    runner = ScriptedRunner(bus, recorder, clock)
    for i in range(30):
        workflow = ["door_access", "invoice_review", "daily_campaigns"][i % 3]
        runner.members = [i]
        result = await runner.run(workflow)
        ids.setdefault(workflow, []).append(result.run_id)
        clock.advance(3600)
    return ids


async def test_list_runs_filters_and_keyset_pages(hdb: Database, clock: FakeClock) -> None:
    bus, recorder, store = wire(hdb, clock)
    start = clock.now()
    ids = await _fill(recorder, bus, clock)
    every = sorted(sum(ids.values(), []), reverse=True)
    page1 = await store.list_runs(limit=12)
    page2 = await store.list_runs(limit=12, before_id=page1[-1]["id"])
    page3 = await store.list_runs(limit=12, before_id=page2[-1]["id"])
    assert [r["id"] for r in page1 + page2 + page3] == every
    assert [r["id"] for r in await store.list_runs(workflow="door_access")] == sorted(ids["door_access"],
                                                                                     reverse=True)
    async with hdb.write() as tx:
        await tx.execute("UPDATE runs SET status = 'failed', error = 'boom 100%_done' WHERE id = ?",
                         (ids["invoice_review"][2],))
    assert [r["id"] for r in await store.list_runs(status="failed")] == [ids["invoice_review"][2]]
    assert [r["id"] for r in await store.list_runs(search="100%_d")] == [ids["invoice_review"][2]]
    assert await store.list_runs(search="100%x") == []
    assert len(await store.list_runs(search="CAMPAIGNS DONE")) == 10
    since = start + timedelta(hours=25)
    recent = await store.list_runs(since=since, limit=100)
    assert [r["id"] for r in recent] == every[:5]
    assert await store.list_runs(since=start + timedelta(days=30)) == []
    touched = await store.list_runs(subject=("member", 4))
    assert [r["id"] for r in touched] == [every[-5]]
    assert await store.list_runs(subject=("member", 4), workflow="door_access") == []
    both = await store.list_runs(subject=("member", 3), workflow="door_access", since=start, limit=5)
    assert [r["id"] for r in both] == [every[-4]]


async def test_last_runs_and_today_totals(hdb: Database, clock: FakeClock) -> None:
    bus, recorder, store = wire(hdb, clock)
    clock.advance(-24 * 3600)
    await _fill(recorder, bus, clock)  # 30 runs, one an hour from yesterday 15:00 UTC
    await recorder.record_skipped("door_access", "schedule", "skipped", "still running")
    last = await store.last_runs()
    assert set(last) == {"door_access", "invoice_review", "daily_campaigns"}
    assert last["door_access"]["status"] == "skipped"
    assert last["daily_campaigns"]["status"] == "succeeded"
    # New York midnight is 05:00 UTC (EST): runs from 05:00 to 20:00 UTC on Nov 2 count.
    totals = await store.today_totals("America/New_York")
    assert totals["runs"] == 16 and totals["tokens"] == 16 * 120 and round(totals["cost_usd"], 6) == 0.0096
    assert (await store.today_totals())["runs"] == 21  # UTC day: 00:00 to 20:00


async def test_prune_deletes_old_events_but_keeps_runs(hdb: Database, clock: FakeClock) -> None:
    bus, recorder, store = wire(hdb, clock)
    start = clock.now()
    ids = await _fill(recorder, bus, clock)  # 30 runs, an hour apart, 7 events each
    clock.set(start + timedelta(days=10, hours=13, minutes=30))  # the first 14 are now over 10 days old
    assert await hdb.fetch_value("SELECT COUNT(*) FROM run_events") == 30 * 7
    deleted = await store.prune(10)
    assert deleted == 14 * 7
    assert await hdb.fetch_value("SELECT COUNT(*) FROM runs") == 30
    first = min(sum(ids.values(), []))
    row = await store.get_run(first)
    assert row is not None and row["pruned_at"] and row["subjects"] and await store.events(first) == []
    assert await store.prune(10) == 0


READS = {
    "page": lambda st: st.list_runs(),
    "workflow": lambda st: st.list_runs(workflow="door_access"),
    "status": lambda st: st.list_runs(status="failed", before_id=20),
    "subject": lambda st: st.list_runs(subject=("member", 4), workflow="door_access"),
    "since": lambda st: st.list_runs(since=DEMO_NOW - timedelta(days=1), workflow="door_access"),
    "open": lambda st: st.get_run(3),
    "events": lambda st: st.events(3),
    "last_runs": lambda st: st.last_runs(),
    "today": lambda st: st.today_totals("America/New_York"),
    "prune": lambda st: st.prune(1),
    "interrupted": lambda st: st.mark_interrupted(),
}
FULL_SCAN = re.compile(r"^SCAN (runs|run_events|run_subjects|r|e|s)\b(?!.*INDEX)")


@pytest.mark.parametrize("name", list(READS))
async def test_history_queries_use_indexes(hdb: Database, clock: FakeClock, name: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every query of the store seeks through an index: none scans runs, events or subjects whole."""
    bus, recorder, store = wire(hdb, clock)
    await _fill(recorder, bus, clock)
    plans: list[str] = []

    def explaining(method):  # type: ignore[no-untyped-def]
        async def wrapper(sql: str, params: object = ()):  # type: ignore[no-untyped-def]
            if sql.lstrip().upper().startswith(("SELECT", "WITH")):
                plans.extend(f"{r['detail']}  <- {sql}" for r in
                             await hdb.__class__.fetch_all(hdb, "EXPLAIN QUERY PLAN " + sql, params))
            return await method(sql, params)
        return wrapper

    async def nothing(*_: object) -> None:
        return None

    def explaining_batch(method):  # type: ignore[no-untyped-def]
        async def wrapper(queries):  # type: ignore[no-untyped-def]
            for sql, params in queries:
                await explaining(nothing)(sql, params)
            return await method(queries)
        return wrapper

    monkeypatch.setattr(hdb, "fetch_all", explaining(hdb.fetch_all))
    monkeypatch.setattr(hdb, "fetch_one", explaining(hdb.fetch_one))
    monkeypatch.setattr(hdb, "fetch_batch", explaining_batch(hdb.fetch_batch))
    await READS[name](store)
    assert plans
    # A newest-first page without a filter walks the table in id order and stops at the limit: fine.
    assert not [p for p in plans if FULL_SCAN.search(p) and "WHERE" in p.split("<-")[1]], plans
    assert not [p for p in plans if "TEMP B-TREE" in p and "runs" in p], plans
