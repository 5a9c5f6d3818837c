"""The scheduler: cron times across DST, missed and skipped runs recorded, paused flags that survive a
restart, run now, and a shutdown that never leaves a run ``running``.

APScheduler decides what is due from the real clock; tests make a run due
deterministically by moving a job's next run time (to now, or into the past
beyond the misfire grace time) rather than by waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_ERROR
from fakeclock import FakeClock
from helpers_history import ScriptedRunner, wait_for

from gymconsole.config import Config, CronSchedule, WorkflowConfig
from gymconsole.db import Database
from gymconsole.engine.events import EventBus
from gymconsole.engine.history import HistoryStore, RunRecorder
from gymconsole.engine.scheduler import WorkflowScheduler

FAR_MONTH = str((datetime.now(UTC).month + 5) % 12 + 1)
"""A schedule that never fires by itself during a test (once a year, months away)."""


def workflow(title: str, enabled: bool = True, **schedule: str) -> WorkflowConfig:
    return WorkflowConfig(title=title, enabled=enabled, schedule=CronSchedule(**schedule), tools=["get_member"],
                          task="Look.")


def config_with(base: Config, workflows: dict[str, WorkflowConfig], **scheduler: Any) -> Config:
    return base.model_copy(update={"workflows": workflows,
                                   "scheduler": base.scheduler.model_copy(update=scheduler)})


QUIET = {"month": FAR_MONTH, "day": "1", "hour": "0", "minute": "0"}


@pytest.fixture
async def hdb(tmp_path: Path) -> AsyncIterator[Database]:
    db = await Database.open(tmp_path / "sched.db", create=True)
    try:
        yield db
    finally:
        await db.close()


class Rig:
    """A scheduler over a scripted runner and a fresh history database."""

    def __init__(self, db: Database, config: Config, clock: FakeClock) -> None:
        self.db = db
        self.bus = EventBus()
        recorder = RunRecorder(db, clock)
        self.bus.subscribe(recorder)
        self.history = HistoryStore(db, clock)
        self.runner = ScriptedRunner(self.bus, recorder, clock)
        self.scheduler = WorkflowScheduler(config=config, db=db, clock=clock, runner=self.runner,
                                           history=self.history, shutdown_grace_seconds=1.0)

    async def statuses(self) -> list[tuple[str, str, str]]:
        rows = await self.history.list_runs(limit=100)
        return [(r["workflow"], r["trigger"], r["status"]) for r in reversed(rows)]

    def fire(self, name: str, at: datetime | None = None) -> None:
        """Make APScheduler find the job due (now, or at a past time)."""
        aps = self.scheduler._aps
        assert aps is not None
        aps.modify_job(name, next_run_time=at or datetime.now(UTC))


@pytest.fixture
def base(repo_config: Config) -> Config:
    return config_with(repo_config, {"alpha": workflow("Alpha", **QUIET), "beta": workflow("Beta", **QUIET)})


async def test_next_fire_times_across_dst(repo_config: Config, clock: FakeClock, hdb: Database) -> None:
    config = config_with(repo_config, {
        "nightly": workflow("Nightly", hour="1", minute="30"),
        "hourly": workflow("Hourly", minute="15"),
        "spring": workflow("Spring", hour="2", minute="30"),
        "off": workflow("Off", enabled=False, hour="6"),
    }, timezone="America/New_York")
    scheduler = WorkflowScheduler(config=config, db=hdb, clock=clock, runner=None, history=HistoryStore(hdb, clock))

    def nxt(name: str) -> datetime:
        moment = scheduler.next_run_time(name)
        assert moment is not None and moment.tzinfo is not None
        return moment.astimezone(UTC)

    # Autumn: 2026-11-01 01:00-02:00 happens twice in New York (EDT, then EST).
    clock.set(datetime(2026, 11, 1, 4, 0, tzinfo=UTC))
    assert nxt("nightly") == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    clock.set(datetime(2026, 11, 1, 5, 31, tzinfo=UTC))
    assert nxt("nightly") == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)  # not 01:30 EST again the same night
    assert scheduler.next_run_time("nightly").strftime("%H:%M %Z") == "01:30 EST"  # type: ignore[union-attr]
    clock.set(datetime(2026, 11, 1, 5, 16, tzinfo=UTC))  # 01:16 EDT: an hourly schedule runs in both 01:00 hours
    assert nxt("hourly") == datetime(2026, 11, 1, 6, 15, tzinfo=UTC)
    # Spring: 02:30 does not exist on 2026-03-08; that day has no 02:30 run (the next is 02:30 EDT on the 9th).
    clock.set(datetime(2026, 3, 8, 5, 0, tzinfo=UTC))
    assert nxt("spring") == datetime(2026, 3, 9, 6, 30, tzinfo=UTC)
    assert scheduler.next_run_time("off") is None
    with pytest.raises(ValueError):
        scheduler.next_run_time("nope")


async def test_the_shipped_schedules(repo_config: Config, clock: FakeClock, hdb: Database) -> None:
    """The demo now is Monday 2026-11-02 10:00 New York (ISO week 45: a referral week, due right now)."""
    scheduler = WorkflowScheduler(config=repo_config, db=hdb, clock=clock, runner=None,
                                  history=HistoryStore(hdb, clock))
    times = {job["name"]: job["next_run"].strftime("%Y-%m-%d %H:%M") for job in scheduler.jobs()}
    assert times == {"daily_campaigns": "2026-11-03 06:00", "past_due_monitoring": "2026-11-02 10:15",
                     "daily_escalation": "2026-11-03 08:00", "referral_check": "2026-11-02 10:00",
                     "invoice_review": "2026-12-01 09:00", "door_access": "2026-11-02 10:30"}
    job = scheduler.jobs()[0]
    assert job["schedule"] == "0 6 * * * (America/New_York)" and job["enabled"] and not job["paused"]


async def test_a_scheduled_run_runs_with_the_schedule_trigger(base: Config, clock: FakeClock, hdb: Database) -> None:
    rig = Rig(hdb, base, clock)
    await rig.scheduler.start()
    errors: list[Any] = []
    assert rig.scheduler._aps is not None
    rig.scheduler._aps.add_listener(errors.append, EVENT_JOB_ERROR)
    try:
        assert rig.scheduler.running
        rig.fire("alpha")
        await wait_for(lambda: rig.runner.started == [("alpha", "schedule")])
        await wait_for(lambda: not rig.runner.running())
        # A failing run is logged, never escapes the job.
        rig.runner.fail_with = RuntimeError("boom")
        rig.fire("beta")
        await wait_for(lambda: len(rig.runner.started) == 2)
        await asyncio.sleep(0.01)
    finally:
        await rig.scheduler.shutdown()
    assert not rig.scheduler.running
    assert await rig.statuses() == [("alpha", "schedule", "succeeded")]
    assert errors == []


async def test_a_misfire_is_recorded_as_missed(base: Config, clock: FakeClock, hdb: Database) -> None:
    rig = Rig(hdb, base, clock)
    await rig.scheduler.start()
    try:
        late = datetime.now(UTC) - timedelta(seconds=base.scheduler.misfire_grace_seconds + 60)
        rig.fire("alpha", at=late)
        await wait_for(lambda: rig.statuses())
    finally:
        await rig.scheduler.shutdown()
    runs = await rig.history.list_runs()
    assert [(r["workflow"], r["status"], r["trigger"]) for r in runs] == [("alpha", "missed", "schedule")]
    assert "misfire grace" in runs[0]["summary"] and rig.runner.started == []


async def test_overlapping_runs_are_recorded_as_skipped(base: Config, clock: FakeClock, hdb: Database,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    rig = Rig(hdb, base, clock)
    rig.runner.hold = asyncio.Event()
    await rig.scheduler.start()
    try:
        rig.fire("alpha")
        await wait_for(lambda: "alpha" in rig.runner.running())
        rig.fire("alpha")  # APScheduler: max_instances reached
        await wait_for(lambda: len(rig.runner.started) == 1 and len(asyncio.all_tasks()) > 0)
        await wait_for(lambda: rig.history.list_runs(status="skipped"))
        # A manual run in progress also makes the scheduled one skip (not a second, overlapping run).
        manual = rig.scheduler.run_now("beta")
        await wait_for(lambda: "beta" in rig.runner.running())
        rig.fire("beta")
        await wait_for(lambda: len(rig.runner.started) == 2)
        await wait_for(lambda: rig.history.list_runs(status="skipped", workflow="beta"))
        rig.runner.hold.set()
        await manual
    finally:
        await rig.scheduler.shutdown()
    assert sorted(await rig.statuses()) == sorted([
        ("alpha", "schedule", "succeeded"), ("alpha", "schedule", "skipped"),
        ("beta", "manual", "succeeded"), ("beta", "schedule", "skipped")])
    skipped = await rig.history.list_runs(status="skipped")
    assert all("still in progress" in r["summary"] for r in skipped)
    assert rig.runner.started == [("alpha", "schedule"), ("beta", "manual")]
    skip_lines = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skip_lines) == 2 and all("still in progress" in line for line in skip_lines), skip_lines  # ours, once


async def test_paused_flags_survive_a_restart(base: Config, clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "restart.db"
    db = await Database.open(path, create=True)
    try:
        rig = Rig(db, base, clock)
        await rig.scheduler.pause("alpha")  # before start: persisted, applied at start
        await rig.scheduler.start()
        aps = rig.scheduler._aps
        assert aps is not None
        assert aps.get_job("alpha").next_run_time is None and aps.get_job("beta").next_run_time is not None
        await rig.scheduler.pause()
        assert aps.get_job("beta").next_run_time is None and rig.scheduler.is_paused("beta")
        # While paused the next time is still known (when it would run if resumed).
        assert rig.scheduler.next_run_time("alpha") is not None
        assert [j["paused"] for j in rig.scheduler.jobs()] == [True, True]
        await rig.scheduler.shutdown()
    finally:
        await db.close()

    db = await Database.open(path)
    try:
        rig = Rig(db, base, clock)
        await rig.scheduler.start()
        aps = rig.scheduler._aps
        assert aps is not None
        assert rig.scheduler.paused_all and rig.scheduler.is_paused("alpha") and rig.scheduler.is_paused("beta")
        assert aps.get_job("alpha").next_run_time is None and aps.get_job("beta").next_run_time is None
        await rig.scheduler.resume()  # the master switch; alpha keeps its own flag
        assert aps.get_job("beta").next_run_time is not None and aps.get_job("alpha").next_run_time is None
        await rig.scheduler.resume("alpha")
        assert aps.get_job("alpha").next_run_time is not None
        await rig.scheduler.pause("beta")
        await rig.scheduler.shutdown()
    finally:
        await db.close()

    db = await Database.open(path)
    try:
        rig = Rig(db, base, clock)
        await rig.scheduler.load()
        assert not rig.scheduler.paused_all
        assert [(j["name"], j["paused"]) for j in rig.scheduler.jobs()] == [("alpha", False), ("beta", True)]
        with pytest.raises(ValueError):
            await rig.scheduler.pause("nope")
    finally:
        await db.close()


async def test_start_paused_and_disabled_workflows(repo_config: Config, clock: FakeClock, hdb: Database) -> None:
    config = config_with(repo_config, {"alpha": workflow("Alpha", **QUIET),
                                       "off": workflow("Off", enabled=False, **QUIET)}, start_paused=True)
    rig = Rig(hdb, config, clock)
    await rig.scheduler.start()
    try:
        aps = rig.scheduler._aps
        assert aps is not None
        assert rig.scheduler.paused_all and aps.get_job("alpha").next_run_time is None
        assert aps.get_job("off") is None and rig.scheduler.next_run_time("off") is None
        result = await rig.scheduler.run_now("off")  # disabled: not scheduled, but can be run now
        assert result.status == "succeeded"
    finally:
        await rig.scheduler.shutdown()
    assert await rig.statuses() == [("off", "manual", "succeeded")]


async def test_run_now_failures_are_retrieved_and_logged(base: Config, clock: FakeClock, hdb: Database,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(hdb, base, clock)
    rig.runner.fail_with = RuntimeError("runner broke")
    task = rig.scheduler.run_now("alpha")
    with caplog.at_level(logging.ERROR, logger="gymconsole.engine.scheduler"):
        with pytest.raises(RuntimeError):
            await task
        await asyncio.sleep(0)
    assert "manual run of alpha failed" in caplog.text
    with pytest.raises(ValueError):
        rig.scheduler.run_now("nope")
    await rig.scheduler.shutdown()  # never started: still fine


async def test_shutdown_lets_runs_finish_within_the_grace_period(base: Config, clock: FakeClock,
                                                                 hdb: Database) -> None:
    rig = Rig(hdb, base, clock)
    rig.runner.hold = asyncio.Event()
    await rig.scheduler.start()
    task = rig.scheduler.run_now("alpha")
    await wait_for(lambda: "alpha" in rig.runner.running())
    asyncio.get_running_loop().call_later(0.02, rig.runner.hold.set)
    await rig.scheduler.shutdown(grace_seconds=5)
    assert task.done() and (await task).status == "succeeded"
    assert await rig.statuses() == [("alpha", "manual", "succeeded")]


async def test_shutdown_cancels_runs_past_the_grace_period(base: Config, clock: FakeClock, hdb: Database) -> None:
    rig = Rig(hdb, base, clock)
    rig.runner.hold = asyncio.Event()
    await rig.scheduler.start()
    manual = rig.scheduler.run_now("alpha")
    rig.fire("beta")
    await wait_for(lambda: set(rig.runner.running()) == {"alpha", "beta"})
    await rig.scheduler.shutdown(grace_seconds=0.02)
    assert manual.cancelled()
    assert sorted(await rig.statuses()) == [("alpha", "manual", "cancelled"), ("beta", "schedule", "cancelled")]
    assert await hdb.fetch_value("SELECT COUNT(*) FROM runs WHERE status = 'running'") == 0


async def test_start_prunes_old_events(base: Config, clock: FakeClock, hdb: Database) -> None:
    rig = Rig(hdb, base, clock)
    clock.advance(-(base.history.retention_days + 1) * 86400)
    old = await rig.runner.run("alpha")
    clock.advance((base.history.retention_days + 1) * 86400)
    new = await rig.runner.run("alpha")
    await rig.scheduler.start()
    try:
        assert rig.scheduler._aps is not None and rig.scheduler._aps.get_job("history-retention") is not None
        pruning = rig.scheduler._pruning
        await wait_for(lambda: pruning is not None and pruning.done())
    finally:
        await rig.scheduler.shutdown()
    assert await rig.history.events(old.run_id) == [] and await rig.history.events(new.run_id)
    assert (await rig.history.get_run(old.run_id))["status"] == "succeeded"  # type: ignore[index]


async def test_schedules_that_fell_due_while_nothing_ran_are_recorded_as_missed(repo_config: Config, clock: FakeClock,
                                                                                 hdb: Database) -> None:
    """The office PC was off from 10:00 to 13:40: four hourly runs never happened, and the history says so."""
    config = config_with(repo_config, {"hourly": workflow("Hourly", minute="15"), "yearly": workflow("Yearly", **QUIET),
                                       "held": workflow("Held", minute="20")}, timezone="America/New_York")
    first = Rig(hdb, config, clock)
    await first.scheduler.start()  # the first start expects nothing before it
    await first.scheduler.pause("held")
    await first.scheduler.shutdown()
    assert await first.statuses() == []
    clock.advance(3 * 3600 + 40 * 60)  # 10:00 -> 13:40 New York
    second = Rig(hdb, config, clock)
    await second.scheduler.start()
    await second.scheduler.shutdown()
    runs = await second.history.list_runs()
    assert [(r["workflow"], r["trigger"], r["status"]) for r in runs] == [("hourly", "schedule", "missed")]
    assert runs[0]["summary"].startswith("4 scheduled runs at 2026-11-02 10:15 EST to 2026-11-02 13:15 EST missed: "
                                         "gymconsole was not running")
    assert second.runner.started == []  # too late to catch up (beyond the misfire grace): recorded, not run


async def test_a_run_due_within_the_misfire_grace_is_caught_up_once(repo_config: Config, clock: FakeClock,
                                                                    hdb: Database) -> None:
    config = config_with(repo_config, {"hourly": workflow("Hourly", minute="15")}, timezone="America/New_York",
                         misfire_grace_seconds=300)
    first = Rig(hdb, config, clock)
    await first.scheduler.start()
    await first.scheduler.shutdown()
    clock.advance(17 * 60)  # 10:00 -> 10:17: the 10:15 run fell due 2 minutes ago
    second = Rig(hdb, config, clock)
    await second.scheduler.start()
    try:
        await wait_for(lambda: second.runner.started == [("hourly", "schedule")])
        await wait_for(lambda: not second.runner.running())
    finally:
        await second.scheduler.shutdown()
    third = Rig(hdb, config, clock)  # a restart right after: that run is not caught up twice
    await third.scheduler.start()
    await third.scheduler.shutdown()
    assert third.runner.started == []
    assert await third.statuses() == [("hourly", "schedule", "succeeded")]


async def test_a_rate_limited_scheduled_run_is_tried_once_more_when_the_api_allows(
        base: Config, clock: FakeClock, hdb: Database) -> None:
    from types import SimpleNamespace

    rig = Rig(hdb, base, clock)
    plain_run = rig.runner.run

    async def rate_limited_first(workflow: str, **kw: Any) -> Any:
        result = await plain_run(workflow, **kw)
        if len(rig.runner.started) > 1:
            return result
        return SimpleNamespace(status="rate_limited", resume_at=datetime.now(UTC) + timedelta(seconds=0.3))

    rig.runner.run = rate_limited_first  # type: ignore[method-assign]
    await rig.scheduler.start()
    try:
        rig.fire("alpha")
        await wait_for(lambda: rig.scheduler.retry_time("alpha") is not None)
        assert [j["retry_at"] is not None for j in rig.scheduler.jobs()] == [True, False]
        await wait_for(lambda: len(rig.runner.started) == 2)
        await wait_for(lambda: not rig.runner.running())
        await asyncio.sleep(0.4)
    finally:
        await rig.scheduler.shutdown()
    assert rig.runner.started == [("alpha", "schedule"), ("alpha", "schedule")]  # once more, not again
    assert rig.scheduler.retry_time("alpha") is None
