"""The console's note while the database is busy: "waiting for the database: another gymconsole is writing (12 s)".

The console's writers (runs, approvals, scheduler notes) wait for another process's write lock up to
``database.busy_wait_seconds``; meanwhile the manager sees why nothing moves, as a notification that is
renewed every few seconds, and a last one when the database is free again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.notifications import Notification

from gymconsole.db import configure_waiting
from gymconsole.db.connection import wait_note
from gymconsole.tui.toasts import replace_toast

if TYPE_CHECKING:
    from textual.app import App

RENEW_SECONDS = 5.0
FREE_AGAIN_SECONDS = 3.0


class ConsoleWaitNote:
    """A :data:`~gymconsole.db.connection.WaitReporter` that keeps one notice on the console's screen.

    Called on the event loop's thread (by a writer waiting in ``BEGIN IMMEDIATE``).
    """

    def __init__(self, app: App[object], *, limit_seconds: float | None = None) -> None:
        self.app = app
        self._limit = limit_seconds
        self._note: Notification | None = None
        self._shown: float | None = None
        """The wait, in seconds, the notice on screen says."""

    def __call__(self, seconds: float | None) -> None:
        if seconds is None:
            if self._note is not None:
                self._replace(Notification("The database is free again.", timeout=FREE_AGAIN_SECONDS))
            self._note = self._shown = None
            return
        if self._shown is None or seconds - self._shown >= RENEW_SECONDS:
            text = wait_note(seconds)
            # Lasts until replaced: the wait can only end by the writer getting its turn or giving up at the limit.
            timeout = (self._limit or 24 * 3600.0) + RENEW_SECONDS
            self._note = self._replace(Notification(text[0].upper() + text[1:] + ".", severity="warning",
                                                    timeout=timeout, markup=False))
            self._shown = seconds

    def _replace(self, note: Notification) -> Notification:
        """Show ``note`` in place of the notice on screen."""
        return replace_toast(self.app, self._note, note)


def install(app: App[object], limit_seconds: float) -> None:
    """Writers in this process report their waits on the console's screen."""
    configure_waiting(limit_seconds, ConsoleWaitNote(app, limit_seconds=limit_seconds))
