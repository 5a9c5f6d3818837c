"""How long the console takes to open a screen, as a person sees it: from the key to the new screen painted.

The key goes in as the terminal driver sends it (a ``Key`` message posted to the app), and the time
stops when the screen it opens has been on top for one refresh (a callback the screen runs after its
next paint).  ``Pilot.press`` is not used to time it: after each key it also waits for the whole
process to go idle (``wait_for_idle``: up to a second, twice), which a console with runs arriving
never is, so it reported about two seconds for every screen whatever the screen cost.

:func:`busy_machine` runs CPU hogs beside the console, so an idle open can be timed on a machine
as busy as the one the soak ran on: "the machine is busy" apart from "our loop is busy".
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

POLL = 0.002
"""Seconds between two looks at which screen is on top (the time's resolution)."""
TIMEOUT = 30.0
"""An open that takes longer is counted as this long (the figures say so rather than the soak stopping)."""


def steps() -> tuple[tuple[str, str | None, type], ...]:
    """Each screen opened from the dashboard and back: (key, label timed or None, the screen it shows)."""
    from gymconsole.tui.screens.dashboard import DashboardScreen
    from gymconsole.tui.screens.history import HistoryScreen
    from gymconsole.tui.screens.live import LiveScreen
    from gymconsole.tui.screens.pending import PendingScreen

    return (("h", "history", HistoryScreen), ("escape", None, DashboardScreen), ("a", "approvals", PendingScreen),
            ("escape", None, DashboardScreen), ("l", "live", LiveScreen), ("escape", "dashboard", DashboardScreen))


async def press_and_time(app: Any, key: str, kind: type) -> float | None:
    """Seconds from ``key`` sent to a screen of ``kind`` painted on top (leaving a screen: any other on top).

    None when the key could not open it: an approval request came on screen first (the console rightly moves
    nowhere until it is decided), or a run starting had already opened it (the live screen).
    """
    from textual import events

    started, before = time.perf_counter(), app.screen
    if isinstance(before, kind):
        return None
    app.post_message(events.Key(key, key if len(key) == 1 else None))
    deadline = started + TIMEOUT
    # Back to the dashboard: the screen left is gone (a run starting may push the live screen at once).
    while not (app.screen is not before and (isinstance(app.screen, kind) or kind.__name__ == "DashboardScreen")):
        if app.asker.current is not None:
            return None
        if time.perf_counter() > deadline:
            return TIMEOUT
        await asyncio.sleep(POLL)
    painted = asyncio.Event()
    app.screen.call_after_refresh(painted.set)
    try:
        await asyncio.wait_for(painted.wait(), max(0.0, deadline - time.perf_counter()))
    except TimeoutError:
        return TIMEOUT
    return time.perf_counter() - started


async def open_each(app: Any, into: dict[str, list[float]]) -> None:
    """Open each screen as the manager would, from the dashboard, and back; each timed one's seconds into ``into``."""
    for key, label, kind in steps():
        if app.asker.current is not None:
            return  # an approval is on screen: the manager decides first
        seconds = await press_and_time(app, key, kind)
        if seconds is None:
            return
        if label:
            into[label].append(seconds)
        if seconds >= TIMEOUT:
            return
        await asyncio.sleep(0.1)  # a person's pace between two keys


@contextmanager
def busy_machine(hogs: int | None = None) -> Iterator[None]:
    """``hogs`` busy-looping processes (one per core by default) for as long as the block runs."""
    count = hogs if hogs is not None else os.cpu_count() or 1
    processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()
