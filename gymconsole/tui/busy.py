"""The console's note while the database is busy: "waiting for the database: another gymconsole is writing (12 s)".

The console's writers (runs, approvals, scheduler notes) wait for another process's write lock up to
``database.busy_wait_seconds``; meanwhile the manager sees why nothing moves, as a notification that is
renewed every few seconds, and a last one when the database is free again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gymconsole.db import configure_waiting
from gymconsole.db.connection import wait_note

if TYPE_CHECKING:
    from textual.app import App

RENEW_SECONDS = 5.0


class ConsoleWaitNote:
    """A :data:`~gymconsole.db.connection.WaitReporter` that notifies the console's screen."""

    def __init__(self, app: App[object]) -> None:
        self.app = app
        self._shown: float | None = None

    def __call__(self, seconds: float | None) -> None:
        if seconds is None:
            if self._shown is not None:
                self.app.notify("The database is free again.", timeout=3)
            self._shown = None
            return
        if self._shown is None or seconds - self._shown >= RENEW_SECONDS:
            self.app.notify(wait_note(seconds)[0].upper() + wait_note(seconds)[1:] + ".", severity="warning",
                            timeout=RENEW_SECONDS + 0.5, markup=False)
            self._shown = seconds


def install(app: App[object], limit_seconds: float) -> None:
    """Writers in this process report their waits on the console's screen."""
    configure_waiting(limit_seconds, ConsoleWaitNote(app))
