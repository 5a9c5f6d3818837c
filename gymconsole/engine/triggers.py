"""When a workflow's cron schedule fires, one instant per wall-clock time.

On the autumn DST day a wall-clock time such as 01:30 happens twice; a
schedule that does not fire every hour runs at the first one only
(:class:`WallClockCronTrigger`).  A spring time that does not exist (02:30 on
the night clocks jump from 02:00 to 03:00) is skipped: that day has no such
time.  :func:`fire_times` counts each due instant once, stepping in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

if TYPE_CHECKING:
    from gymconsole.config import WorkflowConfig


class WallClockCronTrigger(CronTrigger):
    """A cron trigger that fires once per wall-clock time.

    At the end of daylight saving time the hour 01:00-02:00 happens twice;
    APScheduler fires a daily 01:30 job in both.  Unless the schedule fires
    every hour (where both hours are real, different hours), the repeated
    time (``fold=1``) is skipped.  At its start 02:00-03:00 does not exist;
    APScheduler would fire a daily 02:30 job at 03:30: that time is skipped.
    """

    def __init__(self, *, skip_repeated: bool, **fields: Any) -> None:
        super().__init__(**fields)
        self.skip_repeated = skip_repeated

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        fire = super().get_next_fire_time(previous_fire_time, now)
        while fire is not None and ((self.skip_repeated and _repeated_wall_time(fire)) or _missing_wall_time(fire)):
            # Step in UTC: local arithmetic would drop fold=1 and land on the first 01:30 again.
            fire = super().get_next_fire_time(None, after_in(fire, fire.tzinfo))  # type: ignore[arg-type]
        return fire


def after_in(moment: datetime, zone: ZoneInfo) -> datetime:
    """The instant just after ``moment``, in ``zone`` (fold kept right by converting from UTC)."""
    return (moment.astimezone(UTC) + timedelta(microseconds=1)).astimezone(zone)


def _missing_wall_time(moment: datetime) -> bool:
    """A local time the spring change skips (02:30 on the night clocks go from 02:00 to 03:00)."""
    return moment.astimezone(UTC).astimezone(moment.tzinfo).replace(tzinfo=None) != moment.replace(tzinfo=None)


def _repeated_wall_time(moment: datetime) -> bool:
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def trigger_from_fields(fields: Mapping[str, str], timezone: str) -> WallClockCronTrigger:
    """The trigger of a schedule's cron fields (``CronSchedule.model_dump()``) in ``timezone``."""
    return WallClockCronTrigger(skip_repeated=fields["hour"] != "*", timezone=ZoneInfo(timezone), **fields)


def trigger_for(workflow: WorkflowConfig, timezone: str) -> WallClockCronTrigger:
    """The trigger of a workflow's configured schedule."""
    return trigger_from_fields(workflow.schedule.model_dump(), timezone)


def fire_times(trigger: WallClockCronTrigger, zone: ZoneInfo, after: datetime, until: datetime,
               most: int = 1000) -> list[datetime]:
    """The trigger's fire times in (after, until], oldest first, each instant once.

    Stepped in UTC: local arithmetic drops ``fold=1``, and stepping from the second 01:15 of an autumn
    night would land on the first one again (it returned 999 copies of 01:15 EST).
    """
    times: list[datetime] = []
    fire = trigger.get_next_fire_time(None, after_in(after, zone))
    while fire is not None and fire <= until and len(times) < most:
        if not times or fire.astimezone(UTC) > times[-1].astimezone(UTC):  # same-zone compares ignore fold
            times.append(fire)
        fire = trigger.get_next_fire_time(fire, after_in(fire, zone))
    return times
