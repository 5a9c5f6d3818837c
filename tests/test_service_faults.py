"""The scheduler service rides out faults: a database held by another writer, a full disk.

Real faults with compressed time: another connection really holds SQLite's
write lock (the busy timeout is shortened so that "longer than the timeout"
takes a second, not minutes), and the disk really fills up (a small tmpfs
where the machine lets the test mount one; otherwise an injected write error).
One log line per outage, the run goes ahead once the fault clears, and a run
that could not start within the misfire grace is recorded as missed, with why.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers_history import ScriptedRunner, wait_for

from gymconsole.clock import SystemClock
from gymconsole.config import Config, CronSchedule, WorkflowConfig
from gymconsole.db import Database, connection
from gymconsole.engine.events import EventBus
from gymconsole.engine.history import HistoryStore, RunRecorder
from gymconsole.engine.scheduler import WorkflowScheduler

FAR_MONTH = str((datetime.now(UTC).month + 5) % 12 + 1)


@pytest.fixture(autouse=True)
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(connection._WAITING, "limit", 0.2)  # a writer gives up after 0.2 s (database.busy_wait_seconds)


def one_workflow(base: Config, grace: int) -> Config:
    quiet = WorkflowConfig(title="Nightly", schedule=CronSchedule(month=FAR_MONTH, day="1", hour="0"),
                           tools=["get_member"], task="Look.")
    return base.model_copy(update={"workflows": {"nightly": quiet},
                                   "scheduler": base.scheduler.model_copy(update={"misfire_grace_seconds": grace})})


class Service:
    """A scheduler over a scripted runner on a database file, with the real clock."""

    def __init__(self, db: Database, config: Config) -> None:
        clock = SystemClock()
        bus = EventBus()
        recorder = RunRecorder(db, clock)
        bus.subscribe(recorder)
        self.db = db
        self.runner = ScriptedRunner(bus, recorder, clock)
        self.scheduler = WorkflowScheduler(config=config, db=db, clock=clock, runner=self.runner,
                                           history=HistoryStore(db, clock), shutdown_grace_seconds=1.0)

    def fire_now(self) -> None:
        assert self.scheduler._aps is not None
        self.scheduler._aps.modify_job("nightly", next_run_time=datetime.now(UTC))

    async def runs(self) -> list[tuple[str, str, str]]:
        rows = await self.db.fetch_all("SELECT workflow, status, COALESCE(summary, '') AS why FROM runs ORDER BY id")
        return [(r["workflow"], r["status"], r["why"]) for r in rows]


@pytest.fixture
async def db_file(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "gym.db"
    db = await Database.open(path, create=True)
    await db.close()
    yield path


def hold_write_lock(path: Path, seconds: float) -> tuple[threading.Thread, threading.Event]:
    """Another writer (its own connection, its own thread) holds the database for ``seconds``."""
    holding = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            holding.set()
            threading.Event().wait(seconds)
            conn.execute("COMMIT")
        finally:
            conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert holding.wait(5)
    return thread, holding


async def test_a_run_due_while_another_writer_holds_the_database_runs_once_it_is_free(
        repo_config: Config, db_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = await Database.open(db_file)
    service = Service(db, one_workflow(repo_config, grace=60))
    try:
        await service.scheduler.start()
        caplog.set_level(logging.INFO)
        thread, _ = hold_write_lock(db_file, 1.5)  # longer than a writer's whole wait (2 x 0.1 s)
        service.fire_now()
        await asyncio.to_thread(thread.join)
        await wait_for(lambda: service.runner.started == [("nightly", "schedule")], timeout=10)
        await wait_for(lambda: not service.runner.running(), timeout=10)
    finally:
        await service.scheduler.shutdown()
        await db.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "nightly" in r.getMessage()]
    assert len(warnings) == 1 and "cannot start yet" in warnings[0] and "database is locked" in warnings[0]
    assert any("works again" in r.getMessage() for r in caplog.records)
    db = await Database.open(db_file)
    try:
        assert [(w, s) for w, s, _ in await Service(db, repo_config).runs()] == [("nightly", "succeeded")]
    finally:
        await db.close()


async def test_a_run_that_cannot_start_within_the_grace_is_recorded_missed_with_the_reason(
        repo_config: Config, db_file: Path) -> None:
    db = await Database.open(db_file)
    service = Service(db, one_workflow(repo_config, grace=1))
    try:
        await service.scheduler.start()
        thread, _ = hold_write_lock(db_file, 2.5)
        service.fire_now()
        await asyncio.to_thread(thread.join)
        await wait_for(lambda: service.runs(), timeout=15)
        runs = await service.runs()
    finally:
        await service.scheduler.shutdown()
        await db.close()
    assert service.runner.started == []
    assert len(runs) == 1 and runs[0][:2] == ("nightly", "missed")
    assert "could not start (DatabaseBusy: the database is locked" in runs[0][2]


def mount_small_disk(where: Path) -> bool:
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True)
    return done.returncode == 0


async def test_a_full_disk_is_waited_out(repo_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    disk = tmp_path / "disk"
    real_disk = mount_small_disk(disk)
    try:
        folder = disk if real_disk else tmp_path
        path = folder / "gym.db"
        db = await Database.open(path, create=True)
        service = Service(db, one_workflow(repo_config, grace=60))
        filler = folder / "filler"
        try:
            await service.scheduler.start()
            caplog.set_level(logging.INFO)
            if real_disk:
                with open(filler, "wb", buffering=0) as out:  # fill every free block
                    try:
                        while True:
                            out.write(b"\0" * 4096)
                    except OSError:
                        pass
            else:  # no tmpfs here: the same error, injected where SQLite would raise it
                failures = iter([sqlite3.OperationalError("database or disk is full")] * 2)
                real_claim = service.scheduler.lease.claim

                async def full_disk_claim(*args, **kwargs):  # type: ignore[no-untyped-def]
                    error = next(failures, None)
                    if error is not None:
                        raise error
                    return await real_claim(*args, **kwargs)

                monkeypatch.setattr(service.scheduler.lease, "claim", full_disk_claim)
            service.fire_now()
            await wait_for(lambda: any("disk is full" in r.getMessage() for r in caplog.records), timeout=10)
            filler.unlink(missing_ok=True)  # someone frees space
            async def succeeded() -> bool:
                return [(w, s) for w, s, _ in await service.runs()] == [("nightly", "succeeded")]

            await wait_for(succeeded, timeout=30)
            assert service.runner.started[-1] == ("nightly", "schedule")
        finally:
            await service.scheduler.shutdown()
            await db.close()
    finally:
        if real_disk:
            subprocess.run(["umount", str(disk)], capture_output=True)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "nightly" in r.getMessage()]
    assert len(warnings) == 1 and "disk is full" in warnings[0]


async def test_the_service_waits_for_a_locked_database_at_start_instead_of_dying(
        repo_config: Config, demo_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gymconsole.cli.scheduler import serve

    config = repo_config.model_copy(update={"database": repo_config.database.model_copy(
        update={"path": str(demo_path)})})
    thread, _ = hold_write_lock(demo_path, 1.5)
    args = argparse.Namespace(offline=True, dry_run=True, grace=1.0, run_now=[], exit_after=4.0)
    assert await serve(args, config) == 0
    await asyncio.to_thread(thread.join)
    out = capsys.readouterr().out
    assert "gymconsole scheduler: 6 workflows" in out and out.rstrip().endswith("stopped")
