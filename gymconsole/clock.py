"""Time, injectable: the product uses :class:`SystemClock`, tests a fake one."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Wall time for records and business rules, monotonic time and sleeping for pacing."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait this long."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FrozenClock(SystemClock):
    """Wall time stands still at one moment (dates and countdowns stay put); monotonic time and waiting are real.

    For screenshots and benchmarks, where the data must look the same on every run.
    """

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def iso(moment: datetime) -> str:
    """The storage form of a timestamp: UTC, seconds, no offset suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
