"""Catch-up across both DST changes in New York (2026-03-08 and 2026-11-01): each due instant counted once,
a local time that does not exist skipped, a repeated one run once (hourly schedules: in both real hours)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fakeclock import FakeClock
from test_scheduler import Rig, config_with, hdb, workflow  # noqa: F401 (the fixture)

from gymconsole.config import Config
from gymconsole.engine.history import HistoryStore
from gymconsole.engine.scheduler import WorkflowScheduler

NY = ZoneInfo("America/New_York")


def local(text: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NY, fold=fold)


def shown(times: list[datetime]) -> list[str]:
    return [t.astimezone(NY).strftime("%m-%d %H:%M %Z") for t in times]


@pytest.fixture
def scheduler(repo_config: Config, clock: FakeClock, hdb: Any) -> WorkflowScheduler:  # noqa: F811
    config = config_with(repo_config, {"hourly": workflow("Hourly", minute="15"),
                                       "nightly": workflow("Nightly", hour="1", minute="30"),
                                       "spring": workflow("Spring", hour="2", minute="30")},
                         timezone="America/New_York")
    return WorkflowScheduler(config=config, db=hdb, clock=clock, runner=None, history=HistoryStore(hdb, clock))


@pytest.mark.parametrize(("start", "end", "expected"), [
    # autumn, downtime before the change, across it, and after it
    ("2026-11-01T00:20", "2026-11-01T00:50", []),
    ("2026-10-31T23:50", "2026-11-01T00:50", ["11-01 00:15 EDT"]),
    ("2026-11-01T00:50", "2026-11-01T04:20", ["11-01 01:15 EDT", "11-01 01:15 EST", "11-01 02:15 EST",
                                              "11-01 03:15 EST", "11-01 04:15 EST"]),
    ("2026-11-01T02:50", "2026-11-01T04:20", ["11-01 03:15 EST", "11-01 04:15 EST"]),
    # spring: 02:15 does not exist
    ("2026-03-07T23:50", "2026-03-08T01:20", ["03-08 00:15 EST", "03-08 01:15 EST"]),
    ("2026-03-08T00:50", "2026-03-08T04:20", ["03-08 01:15 EST", "03-08 03:15 EDT", "03-08 04:15 EDT"]),
    ("2026-03-08T03:20", "2026-03-08T05:20", ["03-08 04:15 EDT", "03-08 05:15 EDT"]),
])
def test_hourly_due_times_across_the_changes(scheduler: WorkflowScheduler, start: str, end: str,
                                             expected: list[str]) -> None:
    times = scheduler._fire_times("hourly", local(start).astimezone(UTC), local(end).astimezone(UTC))
    assert shown(times) == expected
    assert len({t.astimezone(UTC) for t in times}) == len(times)


def test_the_repeated_hour_is_run_once_by_a_nightly_schedule(scheduler: WorkflowScheduler) -> None:
    times = scheduler._fire_times("nightly", local("2026-10-31T12:00").astimezone(UTC),
                                  local("2026-11-02T12:00").astimezone(UTC))
    assert shown(times) == ["11-01 01:30 EDT", "11-02 01:30 EST"]
    from_second_hour = scheduler._fire_times("nightly", local("2026-11-01T01:00", fold=1).astimezone(UTC),
                                             local("2026-11-01T12:00").astimezone(UTC))
    assert from_second_hour == []  # 01:30 already happened (EDT); its repeat is not a new due time


def test_a_time_that_does_not_exist_is_skipped(scheduler: WorkflowScheduler) -> None:
    times = scheduler._fire_times("spring", local("2026-03-07T12:00").astimezone(UTC),
                                  local("2026-03-10T12:00").astimezone(UTC))
    assert shown(times) == ["03-09 02:30 EDT", "03-10 02:30 EDT"]  # no 02:30 on the 8th: clocks went 02:00 -> 03:00


async def test_a_restart_in_the_grace_of_the_0415_run_catches_it_up(repo_config: Config, clock: FakeClock,
                                                                    hdb: Any, tmp_path: Path) -> None:  # noqa: F811
    """Down from 00:50 EDT to 04:17 EST on the autumn night: the 04:15 run, due two minutes ago, is caught up
    (once, coalesced), not recorded as missed."""
    from helpers_history import wait_for

    config = config_with(repo_config, {"hourly": workflow("Hourly", minute="15")}, timezone="America/New_York",
                         misfire_grace_seconds=300)
    clock.set(local("2026-11-01T00:50").astimezone(UTC))
    first = Rig(hdb, config, clock)
    await first.scheduler.start()
    await first.scheduler.shutdown()
    clock.set(local("2026-11-01T04:17").astimezone(UTC))
    second = Rig(hdb, config, clock)
    await second.scheduler.start()
    try:
        await wait_for(lambda: second.runner.started == [("hourly", "schedule")])
        await wait_for(lambda: not second.runner.running())
    finally:
        await second.scheduler.shutdown()
    assert await second.statuses() == [("hourly", "schedule", "succeeded")]


async def test_the_missed_record_across_the_autumn_change_counts_each_run_once(
        repo_config: Config, clock: FakeClock, hdb: Any) -> None:  # noqa: F811
    config = config_with(repo_config, {"hourly": workflow("Hourly", minute="15")}, timezone="America/New_York",
                         misfire_grace_seconds=300)
    clock.set(local("2026-11-01T00:50").astimezone(UTC))
    first = Rig(hdb, config, clock)
    await first.scheduler.start()
    await first.scheduler.shutdown()
    clock.set(local("2026-11-01T04:40").astimezone(UTC))
    second = Rig(hdb, config, clock)
    await second.scheduler.start()
    await second.scheduler.shutdown()
    [missed] = await second.history.list_runs()
    assert missed["status"] == "missed" and second.runner.started == []
    assert missed["summary"].startswith("5 scheduled runs at 2026-11-01 01:15 EDT to 2026-11-01 04:15 EST missed")
