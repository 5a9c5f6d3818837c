"""The scheduler lease in one process with a fake clock: two schedulers on one database file (each its own
connection, as two processes would have), deterministic handovers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fakeclock import FakeClock
from helpers_history import ScriptedRunner, wait_for

from gymconsole.config import Config, CronSchedule, WorkflowConfig
from gymconsole.db import Database
from gymconsole.engine.events import EventBus
from gymconsole.engine.history import HistoryStore, RunRecorder
from gymconsole.engine.scheduler import WorkflowScheduler

NY = "America/New_York"


def config_for(base: Config) -> Config:
    hourly = WorkflowConfig(title="Hourly", schedule=CronSchedule(minute="15"), tools=["get_member"], task="Look.")
    return base.model_copy(update={"workflows": {"hourly": hourly}, "scheduler": base.scheduler.model_copy(
        update={"timezone": NY, "misfire_grace_seconds": 300, "lease_seconds": 30})})


class Process:
    """One 'process': its own connection, runner and scheduler."""

    def __init__(self, db: Database, config: Config, clock: FakeClock, role: str) -> None:
        bus = EventBus()
        recorder = RunRecorder(db, clock)
        bus.subscribe(recorder)
        self.db = db
        self.runner = ScriptedRunner(bus, recorder, clock)
        self.scheduler = WorkflowScheduler(config=config, db=db, clock=clock, runner=self.runner,
                                           history=HistoryStore(db, clock), shutdown_grace_seconds=1.0, role=role)

    async def fire(self, due: datetime) -> None:
        """What APScheduler does at a scheduled time (it passes the time through the submission event)."""
        self.scheduler._due["hourly"] = due
        await self.scheduler._fire("hourly")


@pytest.fixture
async def two(tmp_path: Path, repo_config: Config, clock: FakeClock) -> AsyncIterator[tuple[Process, Process]]:
    path = tmp_path / "gym.db"
    first_db = await Database.open(path, create=True)
    second_db = await Database.open(path)
    config = config_for(repo_config)
    clock.set(datetime(2026, 11, 2, 15, 14, 50, tzinfo=UTC))  # 10:14:50 New York, ten seconds before :15
    service, console = Process(first_db, config, clock, "service"), Process(second_db, config, clock, "console")
    try:
        yield service, console
    finally:
        await service.scheduler.shutdown()
        await console.scheduler.shutdown()
        await first_db.close()
        await second_db.close()


async def test_only_the_holder_fires_and_a_pause_from_elsewhere_holds_it_at_once(two, clock: FakeClock) -> None:
    service, console = two
    await service.scheduler.start()
    await console.scheduler.start()
    assert service.scheduler.lease.held and not console.scheduler.lease.held
    clock.advance(10)
    due = datetime(2026, 11, 2, 15, 15, tzinfo=UTC)
    await console.fire(due)
    await service.fire(due)
    await wait_for(lambda: not service.runner.running())
    assert service.runner.started == [("hourly", "schedule")] and console.runner.started == []
    await console.scheduler.pause("hourly")  # in the console; the service has not re-read its flags yet
    clock.advance(3600)
    await service.fire(due + timedelta(hours=1))
    assert service.runner.started == [("hourly", "schedule")]  # the paused flag was checked at firing
    await console.scheduler.resume("hourly")
    await service.scheduler._renew()  # the holder's next renewal picks the flag up
    assert not service.scheduler.is_paused("hourly")


async def test_a_holder_that_stops_renewing_is_replaced_and_the_time_it_missed_runs_once(two, clock: FakeClock) -> None:
    service, console = two
    await service.scheduler.start()
    await console.scheduler.start()
    service.scheduler._leasing.cancel()  # frozen: no more heartbeats (a suspended process)
    clock.advance(40)  # 10:15:30: the 10:15 run fell due and the lease (30 s) ran out
    await console.scheduler._renew()
    assert console.scheduler.lease.held
    await wait_for(lambda: console.runner.started == [("hourly", "schedule")])
    await wait_for(lambda: not console.runner.running())
    await service.fire(datetime(2026, 11, 2, 15, 15, tzinfo=UTC))  # the old holder wakes up and tries it too
    assert service.runner.started == []
    async def runs() -> list[dict[str, str]]:
        return await console.db.fetch_all("SELECT workflow, trigger, status FROM runs")

    await wait_for(lambda: runs())
    assert [(r["workflow"], r["trigger"]) for r in await runs()] == [("hourly", "schedule")]  # once


async def test_a_clean_stop_hands_the_lease_over_at_once(two, clock: FakeClock) -> None:
    service, console = two
    await service.scheduler.start()
    await console.scheduler.start()
    await service.scheduler.shutdown()
    await console.scheduler._renew()  # no waiting for the expiry
    assert console.scheduler.lease.held
    assert console.scheduler.lease.taken_from is not None and console.scheduler.lease.taken_from.role == "service"
    assert console.runner.started == []  # nothing fell due in between


async def test_a_run_going_on_in_another_process_makes_the_holder_skip_that_time(two, clock: FakeClock) -> None:
    service, console = two
    await service.scheduler.start()
    parent = os.getppid()  # a live process that is not this one, standing in for the console running it by hand
    async with console.db.write() as tx:
        await tx.execute("INSERT INTO runs (workflow, trigger, status, started_at, pid, mode, dry_run)"
                         " VALUES ('hourly', 'manual', 'running', '2026-11-02T15:14:00', ?, 'offline', 0)", (parent,))
    clock.advance(10)
    await service.fire(datetime(2026, 11, 2, 15, 15, tzinfo=UTC))
    assert service.runner.started == []
    skipped = await service.db.fetch_one("SELECT status, summary FROM runs WHERE trigger = 'schedule'")
    assert skipped is not None and skipped["status"] == "skipped"
    assert f"in another gymconsole (pid {parent}) was still in progress" in skipped["summary"]
