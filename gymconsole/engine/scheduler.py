"""The background scheduler: each enabled workflow on its cron schedule, on the running event loop.

APScheduler 3.x (``AsyncIOScheduler``) does the timing; everything it would
keep only in memory is ours:

* paused flags live in ``scheduler_state`` (one row per workflow plus ``*`` for
  "everything"), are restored at start and survive a restart.  The master
  switch and the per-workflow flags are independent: a workflow runs when
  neither is set;
* a run that could not start in time or that found its previous run still
  going is recorded in the history as ``missed`` / ``skipped`` with the
  reason, not just logged (:mod:`gymconsole.engine.skipped_runs`);
* runs are our own tracked tasks (APScheduler's ``shutdown`` would cancel them
  whatever ``wait=`` says): :meth:`shutdown` pauses the timing, lets runs in
  progress finish within a grace period, cancels the rest (the runner records
  them ``cancelled``) and only then shuts APScheduler down;
* next run times are computed from the trigger and the injected clock, so they
  are known before start, while paused and in tests with a fake clock;
* while started, the scheduler notes the time once a minute (``meta``
  ``scheduler_seen_at``).  At the next start, a schedule that fell due while no
  gymconsole was running is caught up once (coalesced) if the latest such time
  is within the misfire grace, and otherwise recorded as ``missed`` with when
  and why: the office PC being off at 06:00 is never silent;
* one scheduler per database (:mod:`gymconsole.engine.lease`): every process
  keeps the timing, only the lease holder fires, each scheduled time is
  claimed once in the database, paused flags set by another process are
  re-read every few seconds and checked again at the moment of firing, and a
  process that takes the lease over catches up what fell due since the old
  holder's last heartbeat.

Wall-clock times that happen twice or never on DST days are handled by the
triggers (:mod:`gymconsole.engine.triggers`); catch-up counts each due instant once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.triggers.cron import CronTrigger

from gymconsole.clock import Clock, iso
from gymconsole.config import Config
from gymconsole.db import Database
from gymconsole.engine import upkeep
from gymconsole.engine.aps_log import RecordedElsewhere
from gymconsole.engine.catch_up import missed_while_away, not_run
from gymconsole.engine.faults import Backoff, is_transient
from gymconsole.engine.history import HistoryStore, RunRecorder
from gymconsole.engine.lease import Lease, running_elsewhere
from gymconsole.engine.skipped_runs import SkippedRuns
from gymconsole.engine.triggers import fire_times, trigger_for

if TYPE_CHECKING:  # imported where used: `gymconsole workflows` computes next runs without either
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)

ALL = "*"
"""The ``scheduler_state`` row of the master switch."""
HEARTBEAT_JOB = "scheduler-heartbeat"
HEARTBEAT_SECONDS = 60
PRUNE_JOB = "history-retention"
"""The daily job that prunes old runs' events (``history.retention_days``); also run at start."""
DEFAULT_SHUTDOWN_GRACE_SECONDS = 10.0
BACKUP_JOB = "daily-backup"


class Runner(Protocol):
    """What the scheduler needs of the WorkflowRunner."""

    offline: bool
    dry_run: bool

    async def run(self, workflow: str, *, trigger: str = "manual", dry_run: bool | None = None) -> Any: ...

    def running(self) -> dict[str, int]: ...


class WorkflowScheduler:
    """Runs the workflows on their schedules and keeps their paused flags."""

    def __init__(self, *, config: Config, db: Database, clock: Clock, runner: Runner | None,
                 history: HistoryStore, shutdown_grace_seconds: float = DEFAULT_SHUTDOWN_GRACE_SECONDS,
                 role: str = "console") -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.runner = runner
        self.history = history
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self.timezone = ZoneInfo(config.scheduler.timezone)
        self.paused_all = config.scheduler.start_paused
        self._paused: set[str] = set()
        self._loaded = False
        self._triggers = {name: trigger_for(wf, config.scheduler.timezone) for name, wf in config.workflows.items()}
        self._aps: AsyncIOScheduler | None = None
        self._quiet = RecordedElsewhere(lambda job: job in self.config.workflows and self.lease.held)
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pruning: asyncio.Task[None] | None = None
        self.lease = Lease(db, clock, seconds=config.scheduler.lease_seconds, role=role)
        self._skips = SkippedRuns(config=config, recorder=RunRecorder(db, clock), lease=self.lease, runner=runner,
                                  timezone=self.timezone)
        self._local = self._skips.local
        self._leasing: asyncio.Task[None] | None = None
        self._due: dict[str, datetime] = {}
        """The scheduled time of each job just submitted (APScheduler does not pass it to the job)."""
        self.before_run: Callable[[str], Awaitable[object]] | None = None
        """Called before each scheduled run (the import watch folder brings in new exports)."""

    # --- state -----------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the timing is started (paused or not)."""
        return self._aps is not None and self._aps.running and not self._stopping

    async def load(self) -> None:
        """Read the persisted paused flags (done by :meth:`start`; call it to show them without starting)."""
        rows = await self.db.fetch_all("SELECT workflow, paused FROM scheduler_state")
        flags = {row["workflow"]: bool(row["paused"]) for row in rows}
        self.paused_all = flags.get(ALL, False) or self.config.scheduler.start_paused
        self._paused = {name for name, paused in flags.items() if paused and name in self.config.workflows}
        self._loaded = True

    def is_paused(self, workflow: str) -> bool:
        """Whether the workflow's schedule is held (by its own flag or the master switch)."""
        return self.paused_all or workflow in self._paused

    def is_paused_itself(self, workflow: str) -> bool:
        """Whether the workflow's own flag is set (the master switch aside)."""
        return workflow in self._paused

    async def pause(self, workflow: str | None = None) -> None:
        """Hold one workflow's schedule, or (None) every schedule; persisted."""
        await self._set_paused(workflow, True)

    async def resume(self, workflow: str | None = None) -> None:
        """Release one workflow's flag, or (None) the master switch; persisted.

        A resumed schedule runs next at its next fire time from now: no catch-up of the held period.
        """
        await self._set_paused(workflow, False)

    async def _set_paused(self, workflow: str | None, paused: bool) -> None:
        if workflow is not None:
            self._check(workflow)
        if not self._loaded:
            await self.load()
        key = ALL if workflow is None else workflow
        async with self.db.write() as tx:
            await tx.execute(
                "INSERT INTO scheduler_state (workflow, paused, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (workflow) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at",
                (key, int(paused), iso(self.clock.now())))
        if workflow is None:
            self.paused_all = paused
        elif paused:
            self._paused.add(workflow)
        else:
            self._paused.discard(workflow)
        for name in ([workflow] if workflow else list(self.config.workflows)):
            self._apply(name)
        log.info("scheduler: %s %s", "paused" if paused else "resumed", workflow or "all workflows")

    def _check(self, workflow: str) -> None:
        if workflow not in self.config.workflows:
            raise ValueError(f"unknown workflow {workflow!r}")

    # --- times -----------------------------------------------------------------------------------------

    def next_run_time(self, workflow: str) -> datetime | None:
        """When the schedule fires next from now (in the scheduler's timezone), paused or not.

        None for a disabled workflow.  While paused this is when it would run if resumed now.
        """
        self._check(workflow)
        if not self.config.workflows[workflow].enabled:
            return None
        fire = self._triggers[workflow].get_next_fire_time(None, self.clock.now().astimezone(self.timezone))
        return None if fire is None else fire.astimezone(self.timezone)

    def jobs(self) -> list[dict[str, Any]]:
        """Every configured workflow with its schedule, next run and flags (for the console and the CLI)."""
        running = self.runner.running() if self.runner is not None else {}
        return [{
            "name": name,
            "title": wf.title,
            "schedule": f"{wf.schedule.describe()} ({self.config.scheduler.timezone})",
            "cron": wf.schedule.describe(),
            "timezone": self.config.scheduler.timezone,
            "enabled": wf.enabled,
            "next_run": self.next_run_time(name),
            "paused": self.is_paused(name),
            "paused_itself": self.is_paused_itself(name),
            "running_run_id": running.get(name),
            "retry_at": self.retry_time(name),
        } for name, wf in self.config.workflows.items()]

    def retry_time(self, workflow: str) -> datetime | None:
        """When a rate-limited scheduled run of ``workflow`` will be tried again, if it will."""
        job = self._aps.get_job(f"{workflow}:rate-limit-retry") if self._aps is not None else None
        return getattr(job, "next_run_time", None) if job is not None else None

    # --- running ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the timing on the running loop (restoring paused flags); enabled workflows get jobs."""
        if self.running:
            return
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        await self.load()
        self._stopping = False
        grace = self.config.scheduler.misfire_grace_seconds
        aps = AsyncIOScheduler(timezone=self.timezone, job_defaults={
            "max_instances": 1, "coalesce": True, "misfire_grace_time": grace})
        aps.add_listener(self._skips.on_aps_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self._quiet.install()  # self._skips records those runs once; APScheduler's own line would be a second
        aps.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        aps.start()
        self._aps = aps
        for name, wf in self.config.workflows.items():
            if not wf.enabled:
                continue
            extra: dict[str, Any] = {"next_run_time": None} if self.is_paused(name) else {}
            aps.add_job(self._fire, trigger=self._triggers[name], args=[name], id=name, name=name,
                        replace_existing=True, **extra)
        aps.add_job(self._prune, trigger=CronTrigger(hour=3, minute=45, timezone=self.timezone), id=PRUNE_JOB,
                    name=PRUNE_JOB, replace_existing=True)
        aps.add_job(self._backup, trigger=CronTrigger(hour=self.config.backup.hour, minute=30, timezone=self.timezone),
                    id=BACKUP_JOB, name=BACKUP_JOB, replace_existing=True)
        aps.add_job(self._heartbeat, trigger="interval", seconds=HEARTBEAT_SECONDS, id=HEARTBEAT_JOB,
                    name=HEARTBEAT_JOB, replace_existing=True)
        self._pruning = asyncio.get_running_loop().create_task(self._prune())
        await self._renew()
        self._leasing = asyncio.get_running_loop().create_task(self._keep_lease(), name="scheduler lease")
        log.info("scheduler started (%s)", "paused" if self.paused_all else "running")

    async def _renew(self) -> None:
        """Renew (or take) the lease, re-read the paused flags; on taking the lease, catch up."""
        acquired = await self.lease.renew()
        await self.load()
        for name in self.config.workflows:
            self._apply(name)
        if acquired:
            await self._catch_up()

    async def _keep_lease(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.lease.renew_seconds)
            try:
                await self._renew()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:  # one line per outage, not one per attempt
                    log.warning("lease: renewing failed (%s: %s); still trying", type(exc).__name__, exc)
                failing = True
            else:
                if failing:
                    log.info("lease: renewing works again")
                failing = False

    async def _heartbeat(self) -> None:
        if self.lease.held:
            await upkeep.note_heartbeat(self.db, self.clock.now())

    async def _catch_up(self) -> None:
        """Schedules that fell due while no scheduler ran: run the latest once, or record it as missed."""
        previous = self.lease.taken_from
        seen = iso(previous.heartbeat_at) if previous is not None else await self.db.meta(upkeep.SEEN_AT)
        await self._heartbeat()
        if seen is None:
            return  # the first start: nothing was expected before it
        since = datetime.fromisoformat(seen).replace(tzinfo=UTC)
        now = self.clock.now()
        grace = timedelta(seconds=self.config.scheduler.misfire_grace_seconds)
        for name, wf in self.config.workflows.items():
            if not wf.enabled or self.is_paused(name):
                continue
            due = await not_run(self.db, self.lease, name, self._fire_times(name, since, now))
            if not due:
                continue
            if now - due[-1] <= grace and self.runner is not None:
                log.info("%s: catching up the run due at %s", name, self._local(due[-1]))
                for earlier in due[:-1]:  # coalesced into the one run
                    await self.lease.claim(name, earlier, outcome="coalesced", check_paused=False)
                self._track(self._scheduled_run(name, due[-1]), f"catch-up run of {name}")
                continue
            claimed = [t for t in due if await self.lease.claim(name, t, outcome="missed", check_paused=False) is None]
            if not claimed:
                continue
            await self._skips.record(name, "missed", missed_while_away(claimed, since, self._local))

    def _fire_times(self, workflow: str, after: datetime, until: datetime) -> list[datetime]:
        """The schedule's fire times in (after, until], oldest first, each instant once."""
        return fire_times(self._triggers[workflow], self.timezone, after, until)

    def _apply(self, workflow: str) -> None:
        """Bring the APScheduler job in line with the flags (when started)."""
        if self._aps is None or not self.running:
            return
        job = self._aps.get_job(workflow)
        if job is None:
            return
        if self.is_paused(workflow) and job.next_run_time is not None:
            self._aps.pause_job(workflow)
        elif not self.is_paused(workflow) and job.next_run_time is None:
            self._aps.resume_job(workflow)

    def run_now(self, workflow: str) -> asyncio.Task[Any]:
        """Start a manual run as a tracked task (the caller may await it for the result)."""
        self._check(workflow)
        if self.runner is None:
            raise RuntimeError("this scheduler has no runner")
        return self._track(self.runner.run(workflow, trigger="manual"), f"manual run of {workflow}")

    def _track(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=what)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        from gymconsole.engine.runner import AlreadyRunning

        exc = task.exception()
        if isinstance(exc, AlreadyRunning):
            log.warning("%s not started: %s", task.get_name(), exc)
        else:
            log.error("%s failed", task.get_name(), exc_info=exc)

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        if event.job_id in self.config.workflows and event.scheduled_run_times:
            self._due[event.job_id] = event.scheduled_run_times[-1]

    def _due_time(self, workflow: str) -> datetime:
        """The scheduled time of the job now firing (the latest fire time up to now if unknown)."""
        due = self._due.pop(workflow, None)
        if due is not None:
            return due
        now = self.clock.now()
        recent = self._fire_times(workflow, now - timedelta(seconds=self.config.scheduler.misfire_grace_seconds), now)
        return recent[-1] if recent else now.replace(microsecond=0)

    async def _fire(self, workflow: str) -> None:
        """The APScheduler job: one scheduled run; never lets an exception escape."""
        assert self.runner is not None
        due = self._due_time(workflow)
        if not self.lease.held:
            log.debug("%s: due at %s; the schedules are run by another process", workflow, self._local(due))
            return
        current = self.runner.running().get(workflow)
        where = ""
        if current is None:
            try:
                elsewhere = await running_elsewhere(self.db, workflow)
            except Exception:  # the claim below meets the same fault and waits it out
                elsewhere = None
            if elsewhere is not None:
                current, where = elsewhere[0], f" in another gymconsole (pid {elsewhere[1]})"
        if current is not None:
            if await self.lease.claim(workflow, due, outcome="skipped", check_paused=False) is None:
                await self._skips.record(workflow, "skipped", f"scheduled run skipped: run #{current} of {workflow}"
                                        f"{where} was still in progress")
            return
        task = self._track(self._scheduled_run(workflow, due), f"scheduled run of {workflow}")
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not self._stopping:
                raise  # the run task itself is shielded; shutdown finishes or cancels it
        except Exception:
            pass  # logged by _finished, recorded by the runner

    async def _scheduled_run(self, workflow: str, due: datetime) -> Any:
        """Claim the scheduled time and run it.  A locked database or a full disk before the run has started
        is waited out with backoff until the misfire grace runs out; then the run is recorded as missed."""
        from gymconsole.engine.runner import AlreadyRunning

        assert self.runner is not None
        backoff = Backoff(log, f"{workflow}: the run due at {self._local(due)} cannot start yet")
        claimed = False
        grace = timedelta(seconds=self.config.scheduler.misfire_grace_seconds)
        try:
            while True:
                try:
                    if not claimed:
                        refused = await self.lease.claim(workflow, due)
                        if refused is not None:
                            log.info("%s: the run due at %s not started here: %s", workflow, self._local(due),
                                     refused)
                            return None
                        claimed = True
                        await self._before_run(workflow)
                    result = await self.runner.run(workflow, trigger="schedule")  # raises only before it started
                    backoff.recovered()
                    self._retry_when_rate_limited(workflow, result)
                    return result
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    if self.clock.now() - due > grace or self._stopping:
                        await self._skips.record_fault(workflow, due, exc, claimed, lambda: self._stopping)
                        return None
                    await backoff.wait(exc)
        except asyncio.CancelledError:
            raise
        except AlreadyRunning as exc:  # a manual run was just starting (no run id yet when _fire looked)
            await self._skips.record(workflow, "skipped", f"scheduled run skipped: {exc}")
            return None
        except Exception:
            log.exception("scheduled run of %s failed", workflow)
            return None

    def _retry_when_rate_limited(self, workflow: str, result: Any) -> None:
        """A scheduled run the API rate-limited for long is tried once more when the API said it could go on."""
        resume_at = getattr(result, "resume_at", None)
        if getattr(result, "status", None) != "rate_limited" or resume_at is None or self._aps is None:
            return
        self._aps.add_job(self._retry_run, trigger="date", run_date=resume_at, args=[workflow],
                          id=f"{workflow}:rate-limit-retry", name=f"{workflow} (retry after the rate limit)",
                          replace_existing=True, misfire_grace_time=self.config.scheduler.misfire_grace_seconds)
        log.info("%s: rate limited; one more try at %s", workflow, self._local(resume_at))

    async def _retry_run(self, workflow: str) -> None:
        """The one retry of a rate-limited scheduled run (its result is not retried again)."""
        assert self.runner is not None
        if not self.lease.held or self.is_paused(workflow) or workflow in self.runner.running():
            return
        try:
            await self._track(self.runner.run(workflow, trigger="schedule"), f"retry of {workflow}")
        except Exception:
            log.exception("the retry of %s after the rate limit failed", workflow)

    async def _before_run(self, workflow: str) -> None:
        """The hook before a scheduled run (the import watch folder); its failure is logged and the run goes on."""
        if self.before_run is None:
            return
        try:
            await self.before_run(workflow)
        except Exception:
            log.exception("before the scheduled run of %s", workflow)

    async def _prune(self) -> None:
        await upkeep.prune_history(self.history, self.lease, self.clock.now(), self.config.history.retention_days)

    async def _backup(self) -> None:
        if self.lease.held:  # the lease holder alone keeps the daily copies
            await upkeep.daily_backup(self.db, self.config.backup.keep_days, self.clock.now().astimezone(self.timezone))

    async def shutdown(self, grace_seconds: float | None = None) -> None:
        """Stop: hold the timing, let runs finish within the grace period, cancel the rest, stop APScheduler.

        Safe to call when never started, and twice.  No tracked run is left ``running``.
        """
        self._stopping = True
        if self._aps is not None and self._aps.running:
            self._aps.pause()
            await self._heartbeat()
        if self._pruning is not None and not self._pruning.done():
            self._pruning.cancel()  # between two small transactions: the rest is pruned next time
            await asyncio.gather(self._pruning, return_exceptions=True)
        grace = self.shutdown_grace_seconds if grace_seconds is None else grace_seconds
        pending = {task for task in self._tasks if not task.done()}
        if pending:
            log.info("scheduler: waiting up to %.0f s for %d run(s) to finish", grace, len(pending))
            _, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            log.warning("scheduler: cancelling %s", task.get_name())
            task.cancel()
        if pending:
            _, stuck = await asyncio.wait(pending, timeout=max(grace, 5.0))
            for task in stuck:
                log.error("scheduler: %s did not stop after being cancelled", task.get_name())
        await self._skips.finish()
        if self._leasing is not None:
            self._leasing.cancel()
            await asyncio.gather(self._leasing, return_exceptions=True)
            self._leasing = None
        try:
            await self.lease.release()
        except Exception as exc:  # the next holder waits for the expiry instead
            log.warning("lease: releasing failed (%s: %s)", type(exc).__name__, exc)
        if self._aps is not None and self._aps.running:
            await asyncio.sleep(0)  # let job coroutines see their finished runs
            self._aps.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler.shutdown is scheduled with call_soon
            await asyncio.sleep(0)
        self._aps = None
        self._quiet.remove()
