"""Scheduled runs that did not happen, recorded in the history as ``missed`` or ``skipped`` with why.

A run that could not start in time (``EVENT_JOB_MISSED``: the computer slept, the loop was blocked past
``misfire_grace_seconds``), that found its previous run still going (``EVENT_JOB_MAX_INSTANCES``, or a
manual run in progress) or that a fault kept from starting within the grace: each is one history row and
one log line, ours, with the reason (APScheduler's own line is dropped by
:class:`~gymconsole.engine.aps_log.RecordedElsewhere`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent, JobSubmissionEvent

from gymconsole.engine.faults import Backoff, describe, is_transient

if TYPE_CHECKING:
    from gymconsole.config import Config
    from gymconsole.engine.history import RunRecorder
    from gymconsole.engine.lease import Lease

log = logging.getLogger("gymconsole.engine.scheduler")  # one logger for the scheduler's lines


class SkippedRuns:
    """Records the scheduler's missed and skipped runs (only while this process holds the schedules)."""

    def __init__(self, *, config: Config, recorder: RunRecorder, lease: Lease, runner: Any,
                 timezone: ZoneInfo) -> None:
        self.config = config
        self.recorder = recorder
        self.lease = lease
        self.runner = runner
        self.timezone = timezone
        self.pending: set[asyncio.Task[None]] = set()
        """Recordings started from APScheduler's listener, awaited at shutdown."""

    def local(self, moment: datetime) -> str:
        """A time as the manager reads it: local, to the minute, with the zone."""
        return moment.astimezone(self.timezone).strftime("%Y-%m-%d %H:%M %Z")

    def _mode(self) -> str:
        return "offline" if self.runner is None or self.runner.offline else "claude"

    def _dry_run(self) -> bool:
        return bool(self.runner.dry_run) if self.runner is not None else False

    def on_aps_event(self, event: JobExecutionEvent | JobSubmissionEvent) -> None:
        """APScheduler listener (called synchronously): record missed and skipped runs."""
        workflow = event.job_id
        if workflow not in self.config.workflows or not self.lease.held:
            return
        if event.code == EVENT_JOB_MISSED:
            when = self.local(event.scheduled_run_time)
            reason = (f"scheduled run at {when} missed: it could not start within the "
                      f"{self.config.scheduler.misfire_grace_seconds} s misfire grace time "
                      "(the computer was asleep or the console busy)")
            status = "missed"
        else:
            times = getattr(event, "scheduled_run_times", None) or []
            when = self.local(times[-1]) if times else "?"
            current = self.runner.running().get(workflow) if self.runner is not None else None
            still = f"run #{current}" if current is not None else "the previous run"
            reason = f"scheduled run at {when} skipped: {still} of {workflow} was still in progress"
            status = "skipped"
        task = asyncio.get_running_loop().create_task(self.record(workflow, status, reason))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def record(self, workflow: str, status: str, reason: str) -> None:
        """One log line and one history row for a run that did not happen."""
        log.warning("%s: %s", workflow, reason)  # once, here, for every skipped or missed run
        try:
            await self.recorder.record_skipped(workflow, "schedule", status, reason, mode=self._mode(),
                                               dry_run=self._dry_run())
        except Exception:
            log.exception("recording the %s run of %s failed", status, workflow)

    async def record_fault(self, workflow: str, due: datetime, exc: BaseException, claimed: bool,
                           stopping: Callable[[], bool]) -> None:
        """The run could not start within the grace: record it missed, with why, once the database takes it."""
        reason = f"scheduled run at {self.local(due)} missed: it could not start ({describe(exc)})"
        log.warning("%s: %s", workflow, reason)
        backoff = Backoff(log, f"{workflow}: recording the missed run")
        while not stopping():
            try:
                if claimed or await self.lease.claim(workflow, due, outcome="missed", check_paused=False) is None:
                    await self.recorder.record_skipped(workflow, "schedule", "missed", reason, mode=self._mode(),
                                                       dry_run=self._dry_run())
                return
            except Exception as error:
                if not is_transient(error):
                    log.exception("recording the missed run of %s failed", workflow)
                    return
                await backoff.wait(error)

    async def finish(self) -> None:
        """Wait for the recordings the listener started."""
        if self.pending:
            await asyncio.gather(*list(self.pending), return_exceptions=True)
