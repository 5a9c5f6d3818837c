"""Recording while the history is read in this process and written by another connection.

Regression: a read left its statement open across an await on the shared
connection; a recorder's ``BEGIN IMMEDIATE`` in between then failed at once
with "database is locked" (SQLITE_BUSY_SNAPSHOT, no busy wait) whenever
another process had committed meanwhile, and the event was lost.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from fakeclock import FakeClock

from gymconsole.db import Database
from gymconsole.engine.events import IterationStarted, RunFinished, TextDelta, ToolCallFinished
from gymconsole.engine.history import HistoryStore, RunRecorder

EVENTS_PER_RUN = 150


def other_process(path: Path, stop: threading.Event, counter: list[int]) -> None:
    """Another writer of the same file (as a second gymconsole process would be): short commits, back to back."""
    conn = sqlite3.connect(path, timeout=10)
    try:
        while not stop.is_set():
            conn.execute("INSERT INTO runs (workflow, trigger, mode, status, started_at, ended_at)"
                         " VALUES ('other', 'manual', 'offline', 'succeeded', '2026-11-02T15:00:00', '2026-11-02T15:00:01')")
            conn.commit()
            counter[0] += 1
            time.sleep(0.0005)
    finally:
        conn.close()


async def test_recording_while_reading_and_another_writer_commits(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "busy.db"
    db = await Database.open(path, create=True)
    stop, counter = threading.Event(), [0]
    thread = threading.Thread(target=other_process, args=(path, stop, counter))
    readers: list[asyncio.Task[int]] = []
    try:
        recorder, store = RunRecorder(db, clock), HistoryStore(db, clock)
        runs = [await recorder.start_run(name, "manual", "offline", False) for name in ("door_access", "referral_check")]
        thread.start()
        while counter[0] < 3:  # the other writer is under way before recording starts
            await asyncio.sleep(0.001)
        before = counter[0]
        writing = True

        async def record(run_id: int, workflow: str) -> None:
            for i in range(EVENTS_PER_RUN):
                if i % 3 == 0:
                    await recorder(TextDelta(run_id=run_id, workflow=workflow, text=f"{i} "))
                elif i % 3 == 1:
                    await recorder(IterationStarted(run_id=run_id, workflow=workflow, iteration=i))
                else:
                    await recorder(ToolCallFinished(run_id=run_id, workflow=workflow, name="get_member",
                                                    subjects=[["member", i]]))
                await asyncio.sleep(0.001 if i % 10 == 0 else 0)  # let the other writer commit in between
            await recorder(RunFinished(run_id=run_id, workflow=workflow, status="succeeded"))

        async def read() -> int:
            reads = 0
            while writing:
                await store.list_runs(limit=20)
                await store.events(runs[reads % 2])
                await store.get_run(runs[0])
                reads += 1
            return reads

        readers += [asyncio.create_task(read()) for _ in range(2)]
        await asyncio.gather(record(runs[0], "door_access"), record(runs[1], "referral_check"))
        writing = False
        reads = sum(await asyncio.gather(*readers))
        stop.set()
        thread.join()
        for run_id in runs:
            kinds = [e.kind for e in await store.events(run_id)]
            assert kinds.count("iteration_started") == EVENTS_PER_RUN // 3
            assert kinds.count("tool_finished") == EVENTS_PER_RUN // 3 and kinds[-1] == "run_finished"
            assert "".join(e.text for e in await store.events(run_id) if isinstance(e, TextDelta)) == \
                "".join(f"{i} " for i in range(0, EVENTS_PER_RUN, 3))
            run = await store.get_run(run_id)
            assert run is not None and run["status"] == "succeeded" and len(run["subjects"]) == EVENTS_PER_RUN // 3
        # Readers kept reading, and the other writer committed while we recorded (SQLite's busy handler lets it
        # in only now and then: how often depends on the machine's load, so any commit at all is the bar).
        assert reads > 10 and counter[0] > before
    finally:
        stop.set()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        if thread.is_alive():
            thread.join()
        await db.close()
