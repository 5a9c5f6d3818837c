"""The approval gate: policy, and asking a person; every acting tool call passes here, outside the model's control.

:meth:`ApprovalGate.approve` is the registry's ``Approver``.  It looks only at
the :class:`~gymconsole.tools.base.ActionPlan` (resolved from the database,
guard rails applied) and at ``config.toml``'s ``safety.policy`` for the plan's
risk level; nothing the model writes reaches it.

* ``deny``: never done (recorded as denied by policy, also in a dry run);
* dry run: ``Decision("dry_run")`` without asking, the tool reports what it would do;
* ``auto``: done;
* ``ask``: the approval store opens a request (``asking``), ``ApprovalRequested``
  is emitted and the asker (TUI modal, terminal prompt, ``--approve`` answer) is
  asked.  With nobody watching (no asker, no answer within
  ``safety.approval_timeout_seconds``, the asker failed or the run was
  cancelled) the request is saved as ``pending`` with the reason, the decision
  is ``timed_out`` and the run goes on; a person decides later with
  ``gymconsole approvals`` (:meth:`ApprovalGate.decide_pending`), which carries
  out exactly the stored plan, once, re-checked against current data.

The request's states and every write of them live in
:mod:`gymconsole.engine.approvals`; plans in words in :mod:`gymconsole.plan_text`.
Every decision is written to ``audit_log`` and emitted as ``ApprovalDecided``.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gymconsole.clock import Clock
from gymconsole.config import Config
from gymconsole.db import Database
from gymconsole.engine import approvals as states
from gymconsole.engine.approvals import Approval, ApprovalStore, AuditEntry, ShownPlan, StateError, Unreadable, only
from gymconsole.engine.events import ApprovalDecided, ApprovalRequested, EventBus
from gymconsole.tools.base import ActionPlan, ToolContext
from gymconsole.tools.registry import Decision, execute_plan

log = logging.getLogger(__name__)

VIAS = ("tui", "cli", "policy", "timeout", "flag", "system", "rule")
EVENT_SAMPLE = 20
"""Plan items carried in an ApprovalRequested event (the approvals row keeps them all)."""


class ApprovalError(Exception):
    """A later decision that cannot be made (unknown request, already decided...), as one line."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage
        """True for bad input (unknown ID or target): exit 2 rather than 1."""


@dataclass(frozen=True)
class ApprovalRequest:
    """What a person is asked: exactly what will happen, resolved from the database."""

    approval_id: int
    run_id: int | None
    workflow: str
    tool: str
    risk: str
    title: str
    plan: ActionPlan
    timeout_seconds: float
    requested_at: str
    """Storage form (UTC, ``YYYY-MM-DDTHH:MM:SS``)."""


Asker = Callable[[ApprovalRequest], Awaitable[Decision]]


def current_user() -> str:
    """Who is deciding (or on whose behalf the policy acts): the OS user."""
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return "unknown"


def event_plan(plan: ActionPlan) -> dict[str, Any]:
    """The plan as an event carries it: every field, items cut to a sample with the full count."""
    data = plan.as_dict()
    data["item_count"] = len(plan.items)
    data["items"] = data["items"][:EVENT_SAMPLE]
    data["skipped"] = data["skipped"][:EVENT_SAMPLE]
    return data


def _detail(plan: ActionPlan, reason: str = "") -> str:
    names = ", ".join(f"{item.label} #{item.target_id}" for item in plan.items[:5])
    more = f" and {len(plan.items) - 5} more" if len(plan.items) > 5 else ""
    text = f"{plan.title}: {names}{more}"
    return f"{text} | {reason}" if reason else text


class ApprovalGate:
    """Decides every act by policy, asks a person when the policy says ``ask``, keeps the audit log."""

    def __init__(self, *, db: Database, config: Config, clock: Clock, bus: EventBus,
                 asker: Asker | None = None) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.bus = bus
        self.asker = asker
        """How a person is asked; None means nobody is watching (requests are saved as pending)."""
        self.store = ApprovalStore(db, clock)

    # --- the registry's Approver ---------------------------------------------

    async def approve(self, ctx: ToolContext, plan: ActionPlan) -> Decision:
        """Decide one plan. Never raises for anything a person or the model did; cancellation propagates."""
        policy = self.config.safety.policy[plan.risk]
        user = current_user()
        if policy == "deny":
            decision = Decision("denied", "policy", user,
                                f"the console never does this: safety.policy.{plan.risk} is 'deny'")
        elif ctx.dry_run:
            decision = Decision("dry_run", "policy", user, "dry run: nothing is changed")
        elif policy == "auto":
            decision = Decision("approved", "policy", user, f"safety.policy.{plan.risk} is 'auto'")
        elif (ruled := await self._standing_rule(ctx, plan)) is not None:
            decision = ruled
        else:
            return await self._ask(ctx, plan)
        await self._record(ctx.run_id, ctx.workflow, plan, decision)
        return decision

    async def _standing_rule(self, ctx: ToolContext, plan: ActionPlan) -> Decision | None:
        """A standing approval rule that covers this whole plan (engine/rules.py); only where a person is asked."""
        from gymconsole.engine.rules import standing_decision

        return await standing_decision(self.db, self.config, self.clock, ctx, plan)

    async def _ask(self, ctx: ToolContext, plan: ActionPlan) -> Decision:
        # Opened whole even when the run is cancelled meanwhile (its COMMIT may already be on its way): a request
        # must never be left asking with nobody holding it.
        opening = asyncio.ensure_future(self.store.open(ctx.run_id, ctx.workflow, plan))
        try:
            approval_id, requested_at = await asyncio.shield(opening)
        except asyncio.CancelledError:
            approval_id, _ = await opening
            try:
                await self._settle(ctx, plan, Decision("timed_out", "timeout", current_user(), "the run was cancelled "
                                                       "while asking; saved for a person to decide later",
                                                       approval_id=approval_id))
            finally:
                self.store.let_go(approval_id)
            raise
        settled = False
        try:
            decision = await self._ask_person(ctx, plan, approval_id, requested_at,
                                              self.config.safety.approval_timeout_seconds)
            settled = decision.acts
            return decision
        finally:
            if not settled:  # approved: held until carried out (mark_executed); otherwise no longer ours
                self.store.let_go(approval_id)

    async def _ask_person(self, ctx: ToolContext, plan: ActionPlan, approval_id: int, requested_at: str,
                          timeout: float) -> Decision:
        request = ApprovalRequest(approval_id, ctx.run_id, ctx.workflow, plan.tool, plan.risk, plan.title, plan,
                                  timeout, requested_at)
        try:
            await self.bus.emit(ApprovalRequested(ctx.run_id or 0, ctx.workflow, approval_id=approval_id,
                                                  tool=plan.tool, risk=plan.risk, title=plan.title,
                                                  plan=event_plan(plan), timeout_seconds=timeout))
            answer = await self._answer(request)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # the run itself was cancelled: save the request, stop
                decision = Decision("timed_out", "timeout", current_user(), "the run was cancelled while waiting; "
                                    "saved for a person to decide later", approval_id=approval_id)
                await asyncio.shield(self._settle(ctx, plan, decision))
                raise
            answer = Decision("timed_out", "timeout", current_user(), "the question was withdrawn; saved for a "
                              "person to decide later")  # the asker gave up on its own: not the run's end
        decision = self._normalise(plan, answer, approval_id)
        return await self._settle(ctx, plan, decision)

    async def _answer(self, request: ApprovalRequest) -> Decision:
        asker = self.asker
        if asker is None:
            return Decision("timed_out", "timeout", current_user(), "nobody is watching; saved for a person to decide")
        try:
            return await asyncio.wait_for(asker(request), request.timeout_seconds)
        except TimeoutError:
            return Decision("timed_out", "timeout", current_user(),
                            f"no answer within {request.timeout_seconds:g} s; saved for a person to decide")
        except Exception as exc:  # a broken asker must not approve anything, nor end the run
            log.exception("approval asker failed")
            return Decision("timed_out", "timeout", current_user(),
                            f"could not ask ({type(exc).__name__}); saved for a person to decide")

    @staticmethod
    def _normalise(plan: ActionPlan, answer: Decision, approval_id: int) -> Decision:
        """Make an asker's answer consistent with the plan: partial only with a real subset of its keys."""
        via = answer.via if answer.via in VIAS and answer.via not in ("policy", "timeout", "system", "rule") else "cli"
        actor = answer.actor or current_user()
        if answer.status == "timed_out" or answer.status not in ("approved", "partial", "denied"):
            return Decision("timed_out", "timeout", actor, answer.reason or "no decision; saved for a person to decide",
                            approval_id=approval_id)
        if answer.status == "denied":
            return Decision("denied", via, actor, answer.reason or f"denied by {actor}", approval_id=approval_id)
        planned = {item.key for item in plan.items}
        keys = None if answer.approved_keys is None else frozenset(answer.approved_keys) & planned
        if answer.status == "partial" and keys is None:
            keys = frozenset()
        if keys is None or keys == planned:
            return Decision("approved", via, actor, answer.reason, approval_id=approval_id)
        if not keys:
            return Decision("denied", via, actor, answer.reason or f"{actor} approved none of it",
                            approval_id=approval_id)
        return Decision("partial", via, actor, answer.reason or f"{actor} approved {len(keys)} of {len(planned)}",
                        approved_keys=keys, approval_id=approval_id)

    async def _settle(self, ctx: ToolContext, plan: ActionPlan, decision: Decision) -> Decision:
        """Store an asked request's outcome (pending when nobody decided), audit it, emit it."""
        assert decision.approval_id is not None
        to = {"timed_out": states.PENDING, "approved": states.APPROVED, "partial": states.PARTLY_APPROVED,
              "denied": states.DENIED}[decision.status]
        try:
            await self.store.move(decision.approval_id, to, expect=[states.ASKING], reason=decision.reason,
                                  decision=None if to == states.PENDING else decision,
                                  audit=self._entry(ctx.run_id, ctx.workflow, plan, decision))
        except StateError as exc:
            return Decision("denied", "timeout", decision.actor, f"{exc}: it was released meanwhile; not done here",
                            approval_id=decision.approval_id)
        await self._emit(ctx.run_id, ctx.workflow, plan, decision)
        return decision

    async def mark_executed(self, decision: Decision, result: dict[str, Any]) -> None:
        """An approval given during a run has been carried out (or carrying it out failed): record it, once."""
        if decision.approval_id is None:
            return
        failed = "error" in result
        try:
            await self.store.move(decision.approval_id, states.FAILED if failed else states.DONE, result=result,
                                  expect=[states.APPROVED, states.PARTLY_APPROVED])
        except StateError as exc:  # released by a person meanwhile: the ledger kept the acts single anyway
            log.warning("approval #%s carried out but not recorded as such: %s", decision.approval_id, exc)
        finally:
            self.store.let_go(decision.approval_id)

    async def _record(self, run_id: int | None, workflow: str, plan: ActionPlan, decision: Decision) -> None:
        """One audit_log row, then one ApprovalDecided event, per decision."""
        await self.store.audit(self._entry(run_id, workflow, plan, decision))
        await self._emit(run_id, workflow, plan, decision)

    @staticmethod
    def _entry(run_id: int | None, workflow: str, plan: ActionPlan, decision: Decision) -> AuditEntry:
        return AuditEntry(run_id, workflow, plan.tool, plan.risk, decision.status, decision.actor, decision.via,
                          _count(plan, decision), _detail(plan, decision.reason), decision.approval_id)

    async def _emit(self, run_id: int | None, workflow: str, plan: ActionPlan, decision: Decision) -> None:
        """Emitted outside any transaction: subscribers (the history recorder) write to the database too."""
        await self.bus.emit(ApprovalDecided(
            run_id or 0, workflow, approval_id=decision.approval_id, tool=plan.tool, status=decision.status,
            via=decision.via, actor=decision.actor, reason=decision.reason, approved_count=_count(plan, decision)))

    # --- deciding later -------------------------------------------------------

    async def release_orphans(self) -> list[int]:
        """Requests whose asker is gone (ended, a zombie, its PID reused) are released for a person to decide."""
        released = []
        for approval in await self.store.orphans():
            try:
                await self._release(approval, current_user(), "system",
                                    f"the process that was asking (pid {approval.pid}) ended; "
                                    "saved for a person to decide", only_orphan=True)
            except StateError:
                continue  # answered or released meanwhile
            released.append(approval.id)
        return released

    async def release(self, approval_id: int, *, actor: str, via: str, reason: str = "") -> dict[str, Any]:
        """Take a stuck request back from whoever holds it: it waits for a person to decide afresh (audited)."""
        approval = await self.store.get(approval_id)
        if approval is None:
            raise ApprovalError(f"no approval request #{approval_id}", usage=True)
        if approval.status in (states.PENDING, states.RELEASED):
            raise ApprovalError(f"approval #{approval_id} is already waiting for a person to decide")
        holder = f" (held by process {approval.pid})" if approval.pid else ""
        why = reason or f"released by {actor}{holder}"
        try:
            await self._release(approval, actor, via if via in VIAS else "cli", why)
        except StateError as exc:
            raise ApprovalError(f"{exc}: nothing to release") from None
        return {"approval_id": approval_id, "status": states.RELEASED, "was": approval.status, "reason": why}

    async def _release(self, approval: Approval, actor: str, via: str, reason: str, only_orphan: bool = False) -> None:
        plan = approval.action_plan()
        entry = AuditEntry(approval.run_id, approval.workflow, plan.tool, plan.risk, "released", actor, via, 0,
                           _detail(plan, reason), approval.id)
        expect = [states.ASKING] if only_orphan else None
        if only_orphan:
            if await self.store.still_held(approval.id):  # re-checked: an answer may be settling now
                raise StateError("held")
        await self.store.move(approval.id, states.RELEASED, audit=entry, reason=reason, expect=expect)
        await self._emit(approval.run_id, approval.workflow, plan,
                         Decision("timed_out", via, actor, reason, approval_id=approval.id))

    async def pending(self) -> list[dict[str, Any]]:
        """Requests waiting for a person, oldest first, each with what it would do.

        ``status`` is ``pending`` or ``released`` (decide it), ``interrupted``
        (approved, carrying it out was cut short: approve again to finish) or
        ``asking`` (a person is being asked right now, in process ``pid``).
        """
        await self.release_orphans()
        return [approval.as_dict() for approval in await self.store.open_requests()]

    async def pending_list(self) -> list[dict[str, Any]]:
        """:meth:`pending` without the plans, for a list (``ApprovalStore.open_list``); each plan is read when shown."""
        await self.release_orphans()
        return await self.store.open_list()

    async def pending_plan(self, approval_id: int) -> ShownPlan | None:
        """One request's plan as a person is shown it before deciding (None: no such request); one whose plan (or
        what it was approved for) is damaged is one line (:class:`ApprovalError`); the rest of its row is not read."""
        try:
            return await self.store.shown_plan(approval_id)
        except Unreadable as exc:
            raise ApprovalError(f"approval #{approval_id}: {exc}") from None

    async def decide_pending(self, approval_id: int, approve: bool, *, actor: str, via: str, reason: str = "",
                             keys: Iterable[str] | None = None, dry_run: bool = False,
                             seen: str | None = None) -> dict[str, Any]:
        """Approve (all, or only ``keys``) or deny a pending request; an approval carries out the stored plan once.

        ``seen`` is the state the person was shown (:attr:`ShownPlan.status`): if it changed since, nothing is
        decided.  Finishing an interrupted request carries out what was approved before; ``keys``, if given,
        must be exactly those.  Raises :class:`ApprovalError` (one line) for an unknown request, one whose state
        changed since it was seen, one already decided, one being asked right now, or keys not in the plan (or,
        finishing one, not those approved).  With ``dry_run`` an approval reports what it would do and decides nothing.
        """
        via = via if via in VIAS else "cli"
        await self.release_orphans()
        approval = await self.store.get(approval_id)
        if approval is None:
            raise ApprovalError(f"no approval request #{approval_id}", usage=True)
        plan = approval.action_plan()
        status = approval.status
        if seen is not None and seen != status:
            raise ApprovalError(f"approval #{approval_id} is {status.replace('_', ' ')} now, not "
                                f"{seen.replace('_', ' ')} as shown: nothing was decided; look at it again")
        resuming = status == states.INTERRUPTED and approve
        if resuming:
            _same_targets(approval, plan, keys)
        if status == states.ASKING:
            raise ApprovalError(f"approval #{approval_id} is being asked right now (process {approval.pid}); answer "
                                f"it there, or take it back with: gymconsole approvals release {approval_id}")
        if status not in (*states.DECIDABLE, states.INTERRUPTED) or (status == states.INTERRUPTED and not approve):
            by = f" by {approval.decided_by} via {approval.decided_via} at {approval.decided_at}" \
                if approval.decided_by else ""
            hint = f" (release it first: gymconsole approvals release {approval_id})" \
                if status == states.INTERRUPTED else ""
            raise ApprovalError(f"approval #{approval_id} was already decided: {status.replace('_', ' ')}{by}{hint}")
        chosen = approval.approved_keys if resuming else self._chosen(plan, approval_id, keys)
        # What is carried out: the chosen items; the plan's own skipped list was shown when it was requested.
        part = only(ActionPlan(plan.tool, plan.action, plan.risk, plan.items, [], plan.args, plan.message), chosen)
        ctx = ToolContext(self.db, self.config, self.clock, workflow=approval.workflow, run_id=approval.run_id,
                          dry_run=dry_run)
        if dry_run and approve:
            return {"approval_id": approval_id, "status": "dry_run", "plan": part.as_dict(),
                    "result": await execute_plan(ctx, part)}
        if not approve:
            decision = Decision("denied", via, actor, reason or f"denied by {actor}", approval_id=approval_id)
        elif chosen is None:
            decision = Decision("approved", via, actor, reason, approval_id=approval_id)
        else:
            decision = Decision("partial", via, actor, reason or f"{len(chosen)} of {len(plan.items)} approved",
                                approved_keys=frozenset(chosen), approval_id=approval_id)
        if not resuming:
            to = states.DENIED if not approve else states.APPROVED if chosen is None else states.PARTLY_APPROVED
            try:
                await self.store.move(approval_id, to, decision=decision, reason=decision.reason,
                                      expect=states.DECIDABLE,
                                      audit=self._entry(approval.run_id, approval.workflow, plan, decision))
            except StateError:
                raise ApprovalError(f"approval #{approval_id} was decided elsewhere meanwhile") from None
            await self._emit(approval.run_id, approval.workflow, plan, decision)
        if not approve:
            return {"approval_id": approval_id, "status": "denied", "reason": decision.reason}
        return await self._carry_out(approval, part, decision)

    async def keys_for(self, approval_id: int, target_ids: Iterable[int]) -> list[str]:
        """The plan keys of these targets (the IDs a listing shows), for a partial approval."""
        approval = await self.store.get(approval_id)
        if approval is None:
            raise ApprovalError(f"no approval request #{approval_id}", usage=True)
        by_id = {item["id"]: item["key"] for item in approval.plan["items"]}
        wanted = list(target_ids)
        unknown = [str(i) for i in wanted if i not in by_id]
        if unknown:
            listed = ", ".join(str(i) for i in list(by_id)[:20]) + (" ..." if len(by_id) > 20 else "")
            raise ApprovalError(f"approval #{approval_id} does not include {', '.join(unknown)} "
                                f"(its targets: {listed})", usage=True)
        return [by_id[i] for i in wanted]

    @staticmethod
    def _chosen(plan: ActionPlan, approval_id: int, keys: Iterable[str] | None) -> list[str] | None:
        if keys is None:
            return None
        chosen = list(dict.fromkeys(keys))
        planned = [item.key for item in plan.items]
        unknown = [key for key in chosen if key not in planned]
        if unknown:
            raise ApprovalError(f"approval #{approval_id} has no target {unknown[0]!r}", usage=True)
        if not chosen:
            raise ApprovalError("approve at least one target (or deny the request)", usage=True)
        return None if set(chosen) == set(planned) else chosen

    async def _carry_out(self, approval: Approval, part: ActionPlan, decision: Decision) -> dict[str, Any]:
        """Execute an approved stored plan (the ledger keeps each act single) and record what happened."""
        approval_id = approval.id
        try:
            await self.store.move(approval_id, states.CARRYING_OUT)
        except StateError as exc:
            raise ApprovalError(f"{exc}: not carried out here") from None
        ctx = ToolContext(self.db, self.config, self.clock, workflow=approval.workflow, run_id=approval.run_id)
        try:
            result = await execute_plan(ctx, part)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                await asyncio.shield(self._failed(approval, part, decision, f"{type(exc).__name__}"))
                raise
            log.exception("carrying out approval %s failed", approval_id)
            await self._failed(approval, part, decision, f"{type(exc).__name__}: {exc}")
            raise ApprovalError(f"approval #{approval_id}: carrying it out failed ({type(exc).__name__}: {exc}); "
                                "it stays approved: approve it again to finish") from None
        summary = f"done {result.get('done_count', 0)}, already done {result.get('already_done_count', 0)}, " \
                  f"skipped {result.get('skipped_count', 0)}"
        if result.get("skipped_by_reason"):
            summary += " (" + "; ".join(f"{n} {why}" for why, n in result["skipped_by_reason"].items()) + ")"
        await self.store.move(approval_id, states.DONE, result=result, audit=AuditEntry(
            approval.run_id, approval.workflow, part.tool, part.risk, "executed", decision.actor, decision.via,
            result.get("done_count", 0), f"{part.title}: {summary}", approval_id))
        return {"approval_id": approval_id, "status": decision.status, "summary": summary, "result": result}

    async def _failed(self, approval: Approval, part: ActionPlan, decision: Decision, error: str) -> None:
        await self.store.move(approval.id, states.FAILED, result={"error": error}, audit=AuditEntry(
            approval.run_id, approval.workflow, part.tool, part.risk, "failed", decision.actor, decision.via, 0,
            f"{part.title}: carrying it out failed: {error}", approval.id))


def _same_targets(approval: Approval, plan: ActionPlan, keys: Iterable[str] | None) -> None:
    """Finishing an interrupted request carries out what was approved: targets chosen now must be exactly those."""
    approved = set(approval.approved_keys) if approval.approved_keys is not None else {i.key for i in plan.items}
    if keys is not None and set(keys) != approved:
        raise ApprovalError(f"approval #{approval.id} was approved for {len(approved)} of its {len(plan.items)} "
                            "targets and finishing it carries out exactly those, not the ones chosen now; release it "
                            f"to decide afresh: gymconsole approvals release {approval.id}")


def _count(plan: ActionPlan, decision: Decision) -> int:
    """How many targets the decision lets happen (would happen, in a dry run)."""
    if not (decision.acts or decision.status == "dry_run"):
        return 0
    return len(plan.items) if decision.approved_keys is None else len(decision.approved_keys)
