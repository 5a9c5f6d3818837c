"""Spend limits: what Claude cost today and this month against ``model.daily_budget_usd`` / ``monthly_budget_usd``.

Spend is the sum of the runs' recorded cost (``runs.cost_usd``) since local
midnight and since the first of the month, in ``scheduler.timezone``.  When a
limit is reached, scheduled runs use their offline playbook (labelled as such)
or wait until the limit resets (``model.on_budget_reached``); a run started by
hand still goes to Claude, with a warning.  The manager gets one alert per
limit and period (remembered in ``meta``, so two processes send it once).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gymconsole.clock import Clock, iso
from gymconsole.config import Config
from gymconsole.db import Database

log = logging.getLogger(__name__)

Alert = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True)
class SpendLimit:
    """A limit that has been reached."""

    period: str
    """``day`` or ``month``."""
    key: str
    """The period it applies to (``2026-11-30`` or ``2026-11``): one alert each."""
    spent: float
    limit: float
    resets_at: datetime

    def describe(self, zone: ZoneInfo) -> str:
        when = self.resets_at.astimezone(zone)
        label = "today's" if self.period == "day" else "this month's"
        return (f"{label} Claude spend ${self.spent:.2f} has reached the limit of ${self.limit:.2f} "
                f"(model.{'daily' if self.period == 'day' else 'monthly'}_budget_usd); it resets {when:%Y-%m-%d %H:%M}")


def period_starts(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime, datetime, datetime]:
    """Local midnight, the next one, the first of this month and of the next (all aware)."""
    local = now.astimezone(zone)
    day = datetime.combine(local.date(), time(0), tzinfo=zone)
    next_day = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    month = day.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    return day, next_day, month, next_month


async def spent_since(db: Database, moment: datetime) -> float:
    return float(await db.fetch_value("SELECT COALESCE(SUM(cost_usd), 0) FROM runs WHERE started_at >= ?",
                                      (iso(moment),)) or 0.0)


class SpendGuard:
    """Checks the limits before a Claude run and sends the one alert."""

    def __init__(self, db: Database, config: Config, clock: Clock, alert: Alert | None = None) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.alert = alert
        self.zone = ZoneInfo(config.scheduler.timezone)

    async def reached(self) -> SpendLimit | None:
        m = self.config.model
        if m.daily_budget_usd is None and m.monthly_budget_usd is None:
            return None
        day, next_day, month, next_month = period_starts(self.clock.now(), self.zone)
        if m.monthly_budget_usd is not None:
            spent = await spent_since(self.db, month)
            if spent >= m.monthly_budget_usd:
                return SpendLimit("month", f"{month:%Y-%m}", spent, m.monthly_budget_usd, next_month)
        if m.daily_budget_usd is not None:
            spent = await spent_since(self.db, day)
            if spent >= m.daily_budget_usd:
                return SpendLimit("day", f"{day:%Y-%m-%d}", spent, m.daily_budget_usd, next_day)
        return None

    async def alert_once(self, limit: SpendLimit) -> None:
        """One alert per limit and period, whichever process notices first.  An alert no channel took (the
        webhook or mail server down) is given back, so a later check sends it; without ``alert`` it is logged."""
        key = f"spend_alert:{limit.period}"
        async with self.db.write() as tx:
            seen = await tx.fetch_one("SELECT value FROM meta WHERE key = ?", (key,))
            if seen is not None and seen["value"] == limit.key:
                return
            await tx.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = ?",
                             (key, limit.key, limit.key))
        line = f"gymconsole: {limit.describe(self.zone)}; scheduled runs now " + (
            "use their offline playbooks" if self.config.model.on_budget_reached == "offline"
            else "wait until it resets")
        log.warning("%s", line)
        if self.alert is not None and not await self.alert(line):
            async with self.db.write() as tx:
                await tx.execute("UPDATE meta SET value = ? WHERE key = ? AND value = ?",
                                 (seen["value"] if seen is not None else "", key, limit.key))


@dataclass
class SpendReport:
    """What the dashboard shows: spend against the limits, a daily chart, each workflow's cost."""

    today: float
    month: float
    daily_limit: float | None
    monthly_limit: float | None
    daily: list[float]
    """Cost per local day, oldest first, ending today."""
    per_run: dict[str, float | None]
    """Each workflow's mean cost per Claude run (its last runs), None without any."""
    per_month: dict[str, float | None]
    """That cost times the runs its schedule makes in the next 30 days."""


HISTORY_RUNS = 20
CHART_DAYS = 30


def _runs_in_30_days(config: Config, workflow: str, now: datetime) -> int:
    """How many times the schedule fires in the 30 days from local midnight (one count per workflow and day)."""
    spec = config.workflows[workflow]
    if not spec.enabled:
        return 0
    zone = config.scheduler.timezone
    day = now.astimezone(ZoneInfo(zone)).date()
    return _fires_in_30_days(tuple(sorted(spec.schedule.model_dump().items())), zone, day)


@functools.lru_cache(maxsize=64)
def _fires_in_30_days(schedule: tuple[tuple[str, str], ...], timezone: str, day: date) -> int:
    # Stepping APScheduler's trigger costs ~0.2 ms a fire (720 for an hourly workflow): counted once a day.
    from gymconsole.engine.triggers import trigger_from_fields

    trigger = trigger_from_fields(dict(schedule), timezone)
    start = datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))
    until, count = start + timedelta(days=30), 0
    moment = trigger.get_next_fire_time(None, start)
    while moment is not None and moment < until and count < 10_000:
        count += 1
        moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    return count


async def workflow_costs(db: Database, config: Config, now: datetime
                         ) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Each workflow's mean cost per Claude run (its last runs) and that times its scheduled runs in 30 days."""
    per_run: dict[str, float | None] = {}
    per_month: dict[str, float | None] = {}
    for name in config.workflows:
        costs = await db.fetch_all(
            "SELECT cost_usd FROM runs WHERE workflow = ? AND mode = 'claude' AND status NOT IN "
            "('running', 'missed', 'skipped') ORDER BY id DESC LIMIT ?", (name, HISTORY_RUNS))
        mean = sum(r["cost_usd"] for r in costs) / len(costs) if costs else None
        per_run[name] = mean
        per_month[name] = mean * await asyncio.to_thread(_runs_in_30_days, config, name, now) \
            if mean is not None else None  # off the event loop: the console's stays free
    return per_run, per_month


async def spend_report(db: Database, config: Config, clock: Clock) -> SpendReport:
    zone = ZoneInfo(config.scheduler.timezone)
    now = clock.now()
    day, _, month, _ = period_starts(now, zone)
    first = day - timedelta(days=CHART_DAYS - 1)
    rows = await db.fetch_all("SELECT started_at, cost_usd FROM runs WHERE started_at >= ? AND cost_usd > 0",
                              (iso(min(first, month)),))
    daily = [0.0] * CHART_DAYS
    month_total = 0.0
    for row in rows:
        local = datetime.fromisoformat(row["started_at"]).replace(tzinfo=UTC).astimezone(zone)  # stored as UTC
        index = (local.date() - first.date()).days
        if 0 <= index < CHART_DAYS:
            daily[index] += row["cost_usd"]
        if local >= month:
            month_total += row["cost_usd"]
    per_run, per_month = await workflow_costs(db, config, now)
    m = config.model
    return SpendReport(daily[-1], month_total, m.daily_budget_usd, m.monthly_budget_usd, daily, per_run, per_month)
