"""Runs workflows: one run of one workflow, from ``RunStarted`` to ``RunFinished``.

The runner resolves the workflow from the config, creates the run row through
the history recorder, and hands the run to the Claude loop or, offline, to
the workflow's playbook.  Every acting tool passes the approval gate.

One run per workflow at a time in this process: :meth:`WorkflowRunner.run`
raises :class:`AlreadyRunning` (with the run in progress) for a second one.

Statuses a run ends with: ``succeeded``, ``failed`` (with a one-line
``error``), ``cancelled``, ``awaiting_approval`` (it finished but an approval
timed out and was saved as pending), ``budget_exhausted`` (iterations, tokens
or cost; the reason is in ``error``), ``truncated`` (the answer was still cut
off after the continuations allowed), ``context_exceeded`` (the model's
context window filled up), ``rate_limited`` (the API asked for a longer wait
than allowed; ``resume_at`` says when it could go on).

Whatever the status, the result states what was done (``acts``, from the
gate's decisions and the ledger) ahead of the model's summary, and
``attention`` says when the summary claims acts that did not happen.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from gymconsole.clock import Clock
from gymconsole.config import Config
from gymconsole.db import Database, DatabaseBusy, DatabaseFault
from gymconsole.engine.events import EventBus, Notice, RunFinished, RunStarted
from gymconsole.engine.ratelimit import InputTokenLimiter
from gymconsole.engine.outcome import ACT_KEYS, attention_note, ledger_done
from gymconsole.engine.session import RunOutcome, RunSession
from gymconsole.engine.spend import SpendGuard
from gymconsole.tools.base import ToolContext
from gymconsole.tools.registry import Approver

log = logging.getLogger(__name__)

DOOR_TOOLS = frozenset({"suspend_door_access", "restore_door_access"})


class Recorder(Protocol):
    async def start_run(self, workflow: str, trigger: str, mode: str, dry_run: bool) -> int: ...


class Gate(Protocol):
    approve: Approver


class UnknownWorkflow(LookupError):
    """The config defines no workflow of that name."""

    def __init__(self, workflow: str, known: list[str]) -> None:
        super().__init__(f"unknown workflow {workflow!r}; known: {', '.join(sorted(known)) or 'none'}")
        self.workflow = workflow


class AlreadyRunning(RuntimeError):
    """A run of this workflow is in progress in this process; ``run_id`` is that run (None while it starts)."""

    def __init__(self, workflow: str, run_id: int | None) -> None:
        where = f" (run #{run_id})" if run_id else ""
        super().__init__(f"{workflow} is already running{where}")
        self.workflow = workflow
        self.run_id = run_id


@dataclass
class RunResult:
    """How a run ended, as the CLI's ``--json`` and the scheduler see it."""

    run_id: int
    workflow: str
    status: str
    mode: str
    dry_run: bool
    iterations: int = 0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    summary: str = ""
    error: str | None = None
    acts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACT_KEYS, 0))
    attention: str | None = None
    resume_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "workflow": self.workflow, "status": self.status, "mode": self.mode,
                "dry_run": self.dry_run, "iterations": self.iterations, "acts": self.acts,
                "attention": self.attention, "tool_calls": self.tool_calls,
                "usage": self.usage, "cost_usd": round(self.cost_usd, 6), "summary": self.summary,
                "error": self.error, "resume_at": self.resume_at.isoformat() if self.resume_at else None}


@dataclass
class _Active:
    task: asyncio.Task[Any] | None = None
    run_id: int | None = None
    result: RunResult | None = None


class WorkflowRunner:
    """Starts runs; knows which are in progress; cancels them."""

    reports_on_the_past = False
    """True for runs that answer questions (the assistant): see :func:`~gymconsole.engine.outcome.attention_note`."""

    def __init__(self, *, db: Database, config: Config, clock: Clock, bus: EventBus, gate: Gate, recorder: Recorder,
                 api_key: str | None, base_url: str | None, offline: bool, dry_run: bool,
                 rng: random.Random | None = None) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.bus = bus
        self.gate = gate
        self.recorder = recorder
        self.offline = offline or not api_key
        self.dry_run = dry_run
        self._api_key = api_key
        self._base_url = base_url
        self.rng = rng or random.Random()
        self.limiter = InputTokenLimiter(clock, config.model.input_tokens_per_minute)
        """Shared by every run of this process: the API's limit is per key."""
        self._active: dict[str, _Active] = {}
        self.spend: SpendGuard | None = None
        """Spend limits (set by open_services); None checks none."""

    @property
    def mode(self) -> str:
        return "offline" if self.offline or not self._api_key else "claude"

    def running(self) -> dict[str, int]:
        """Workflow name → run id, for runs in progress (once their run row exists)."""
        return {name: active.run_id for name, active in self._active.items() if active.run_id is not None}

    def cancel(self, workflow: str) -> bool:
        """Cancel the workflow's run in progress; True if there was one."""
        active = self._active.get(workflow)
        if active is None or active.task is None or active.task.done():
            return False
        active.task.cancel()
        return True

    async def run(self, workflow: str, *, trigger: str = "manual", dry_run: bool | None = None) -> RunResult:
        """One run of one workflow.

        Raises :class:`UnknownWorkflow` or :class:`AlreadyRunning` before anything is recorded.
        A run cancelled through :meth:`cancel` returns a result with status ``cancelled``; if the
        caller itself is cancelled, the run is recorded as cancelled and CancelledError propagates.
        """
        if workflow not in self.config.workflows:
            raise UnknownWorkflow(workflow, list(self.config.workflows))
        if workflow in self._active:
            raise AlreadyRunning(workflow, self._active[workflow].run_id)
        active = self._active[workflow] = _Active()  # claimed before the first await
        try:
            active.task = asyncio.ensure_future(self._execute(workflow, trigger, dry_run, active))
            try:
                return await active.task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the caller was cancelled: the run recorded itself as cancelled
                return self._cancelled_result(workflow, active)
        finally:
            self._active.pop(workflow, None)

    def _cancelled_result(self, workflow: str, active: _Active) -> RunResult:
        if active.result is not None:
            return active.result
        return RunResult(active.run_id or 0, workflow, "cancelled", self.mode, self.dry_run, error="cancelled")

    async def _spend_check(self, workflow: str, trigger: str, mode: str, dry: bool) -> tuple[str, str | None,
                                                                                          RunResult | None]:
        """The mode a run goes ahead in once the spend limits are checked, a notice, or the result of a wait."""
        if mode != "claude" or self.spend is None:
            return mode, None, None
        limit = await self.spend.reached()
        if limit is None:
            return mode, None, None
        await self.spend.alert_once(limit)
        why = limit.describe(self.spend.zone)
        if trigger != "schedule":
            return mode, f"{why}; this run goes to Claude because it was started by hand", None
        if self.config.model.on_budget_reached == "wait":
            reason = f"scheduled run skipped: {why}"
            run_id = await self.recorder.record_skipped(workflow, trigger, "skipped", reason, mode="claude",
                                                        dry_run=dry)
            return mode, None, RunResult(run_id, workflow, "skipped", "claude", dry, error=reason)
        return "offline", f"{why}; this scheduled run uses its offline playbook (no AI)", None

    async def _execute(self, workflow: str, trigger: str, dry_run: bool | None, active: _Active) -> RunResult:
        dry = self.dry_run if dry_run is None else dry_run
        mode, spend_notice, waited = await self._spend_check(workflow, trigger, self.mode, dry)
        if waited is not None:
            return waited
        starting = asyncio.ensure_future(self.recorder.start_run(workflow, trigger, mode, dry))
        cancelled = False
        try:
            run_id = await asyncio.shield(starting)
        except asyncio.CancelledError:  # the run row is being written: let it finish, then record the cancel
            run_id, cancelled = await starting, True
        active.run_id = run_id
        ctx = ToolContext(self.db, self.config, self.clock, workflow, run_id, dry)
        session = RunSession(ctx, self.bus, self.gate.approve, list(self.config.workflows[workflow].tools),
                             executed=self.gate.mark_executed)
        model = self.config.model_for(workflow) if mode == "claude" else ""
        try:
            await session.emit(RunStarted, mode=mode, trigger=trigger, dry_run=dry, model=model)
            if spend_notice:
                await session.emit(Notice, level="warning", message=spend_notice)
            if cancelled:
                raise asyncio.CancelledError()
            await self._check_door_drift(session)
            outcome = await self._drive(session, mode)
        except asyncio.CancelledError:
            outcome = RunOutcome("cancelled", session.last_text, "cancelled")
            active.result = await asyncio.shield(self._finish(session, mode, outcome))
            raise
        except (DatabaseBusy, DatabaseFault) as exc:  # recorded if the database lets us; else closed at next start
            log.info("run %s of %s stopped: %s", run_id, workflow, exc)
            outcome = RunOutcome("failed", session.last_text, f"the database refused: {exc}")
        except Exception as exc:  # a bug must end the run as failed, never leave it "running"
            log.exception("run %s of %s failed", run_id, workflow)
            outcome = RunOutcome("failed", session.last_text, f"internal error: {type(exc).__name__}: {exc}")
        return await self._finish(session, mode, outcome)

    async def _check_door_drift(self, session: RunSession) -> None:
        """A workflow that changes doors first reports drift between the door controller and the database."""
        if not DOOR_TOOLS & set(session.tools) or self.config.door_controller.kind != "http":
            return
        from gymconsole.delivery.door import check_door_drift

        report = await check_door_drift(self.db, self.config, read_only=session.ctx.dry_run)
        await self.bus.emit(report.notice(session.run_id, session.workflow))

    async def _drive(self, session: RunSession, mode: str) -> RunOutcome:
        if mode == "offline":
            from gymconsole.engine.offline import run_playbook

            return await run_playbook(session)
        from gymconsole.engine.agent import ClaudeAgent

        assert self._api_key is not None
        agent = ClaudeAgent(api_key=self._api_key, base_url=self._base_url, limiter=self.limiter, rng=self.rng)
        return await agent.run(session)

    async def _finish(self, session: RunSession, mode: str, outcome: RunOutcome) -> RunResult:
        status = outcome.status
        if status == "succeeded" and session.timed_out:
            status = "awaiting_approval"
        error = self._redact(outcome.error) if outcome.error else None
        if status == "awaiting_approval" and not error:
            ids = ", ".join(f"#{i}" for i in session.timed_out if i is not None)
            error = f"waiting for a person to decide approval {ids}".rstrip()
        summary = self._redact(outcome.summary)
        acts = await self._acts(session)
        attention = attention_note(summary, acts, session.ctx.dry_run, reports=self.reports_on_the_past)
        resume_at = outcome.resume_at.isoformat() if outcome.resume_at else None
        await session.emit(RunFinished, status=status, summary=summary, error=error, iterations=session.iterations,
                           acts=acts, attention=attention, resume_at=resume_at)
        return RunResult(session.run_id, session.workflow, status, mode, session.ctx.dry_run, session.iterations,
                         list(session.tool_calls), session.usage.as_dict(), session.usage.cost_usd, summary, error,
                         acts, attention, outcome.resume_at)

    async def _acts(self, session: RunSession) -> dict[str, int]:
        """The acts of the run: the ledger's count of acts carried out, the gate's and guard rails' for the rest."""
        acts = {key: session.acts.get(key, 0) for key in ACT_KEYS}
        if not session.ctx.dry_run and session.run_id:
            try:
                acts["done"] = await ledger_done(self.db, session.run_id)
            except Exception:  # the tools' own count stands; the run's end must still be recorded
                log.exception("run %s: counting its acts in the ledger failed", session.run_id)
        return acts

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted]") if self._api_key else text
