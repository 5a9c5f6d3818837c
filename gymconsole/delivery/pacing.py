"""Pacing the way gym platforms do it: a drip rate per hour, a daily cap per channel, quiet hours.

The drip rate is a sliding window (at most ``per_hour`` messages in any 60
minutes); the daily cap counts from the gym's local midnight; quiet hours are
``safety.quiet_hours_*`` in local time, checked with the same guard the acting
tools use.  Everything reads the injected clock, so tests move time by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gymconsole.clock import Clock
from gymconsole.config import ChannelPacing, Config
from gymconsole.db import Database
from gymconsole.delivery import outbox
from gymconsole.tools.base import ToolContext
from gymconsole.tools.guards import in_quiet_hours

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Allowance:
    """Whether a channel may send now; if not, until when it must wait and why."""

    ok: bool
    wait_until: datetime | None = None
    reason: str = ""
    room: int = 0
    """How many may go now (the tighter of the hourly and daily limits)."""


class Pacer:
    """Decides, from what was already sent, whether the next message may go now."""

    def __init__(self, db: Database, config: Config, clock: Clock) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self._zone = ZoneInfo(config.scheduler.timezone)

    def limits(self, channel: str) -> ChannelPacing:
        d = self.config.delivery
        return d.email_pacing if channel == "email" else d.sms_pacing

    def _local_at(self, day: datetime, hour: int) -> datetime:
        return datetime.combine(day.date(), time(hour), self._zone)

    def quiet_until(self) -> datetime | None:
        """The end of the current quiet hours, or None outside them."""
        if not in_quiet_hours(ToolContext(self.db, self.config, self.clock)):
            return None
        local = self.clock.now().astimezone(self._zone)
        end = self._local_at(local, self.config.safety.quiet_hours_end)
        return end if end > local else self._local_at(local + timedelta(days=1), self.config.safety.quiet_hours_end)

    async def allowance(self, channel: str) -> Allowance:
        """May ``channel`` send now, and how many?"""
        if (quiet_end := self.quiet_until()) is not None:
            s = self.config.safety
            return Allowance(False, quiet_end, f"quiet hours ({s.quiet_hours_start}:00-{s.quiet_hours_end}:00)")
        limits = self.limits(channel)
        now = self.clock.now()
        local = now.astimezone(self._zone)
        midnight = self._local_at(local, 0)
        sent_today = await outbox.sent_since(self.db, channel, midnight)
        if sent_today >= limits.per_day:
            return Allowance(False, self._local_at(local + timedelta(days=1), 0),
                             f"{channel}: daily cap of {limits.per_day} reached")
        sent_this_hour = await outbox.sent_since(self.db, channel, now - HOUR)
        if sent_this_hour >= limits.per_hour:
            oldest = await outbox.oldest_sent_since(self.db, channel, now - HOUR)
            # the oldest send in the window leaves it one second after it is an hour old
            wait = (datetime.fromisoformat(oldest).replace(tzinfo=UTC) + HOUR + timedelta(seconds=1) if oldest
                    else now + timedelta(minutes=1))
            return Allowance(False, max(wait, now + timedelta(seconds=1)),
                             f"{channel}: {limits.per_hour} per hour reached")
        return Allowance(True, room=min(limits.per_day - sent_today, limits.per_hour - sent_this_hour))
