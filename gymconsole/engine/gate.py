"""The approval gate: every acting tool call passes here, outside the model's control.

:meth:`ApprovalGate.approve` is the registry's ``Approver``.  It looks only at
the :class:`~gymconsole.tools.base.ActionPlan` (resolved from the database,
guard rails applied) and at ``config.toml``'s ``safety.policy`` for the plan's
risk level; nothing the model writes reaches it.

* ``deny``: never done (recorded as denied by policy, also in a dry run);
* dry run: ``Decision("dry_run")`` without asking, the tool reports what it would do;
* ``auto``: done;
* ``ask``: an ``approvals`` row is written (``waiting``), ``ApprovalRequested`` is
  emitted and the asker (TUI modal, terminal prompt, ``--approve`` answer) is
  asked.  With nobody watching (no asker, no answer within
  ``safety.approval_timeout_seconds``, the asker failed or the run was
  cancelled) the request is saved as ``pending``, the decision is
  ``timed_out`` and the run goes on; a person decides later with
  ``gymconsole approvals`` (:meth:`ApprovalGate.decide_pending`), which carries
  out exactly the stored plan, once, re-checked against current data.

Every decision is written to ``audit_log`` and emitted as ``ApprovalDecided``.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gymconsole.clock import Clock, iso
from gymconsole.config import Config
from gymconsole.db import Database, Transaction
from gymconsole.engine.events import ApprovalDecided, ApprovalRequested, EventBus
from gymconsole.process import pid_alive
from gymconsole.tools.base import ActionPlan, ToolContext
from gymconsole.tools.registry import Decision, execute_plan

log = logging.getLogger(__name__)

_UNFINISHED = "status IN ('approved', 'partial') AND executed_at IS NULL"
"""Approved during a run and not (yet) noted as carried out."""

VIAS = ("tui", "cli", "policy", "timeout", "flag")
SAMPLE_LINES = 10
EVENT_SAMPLE = 20
"""Plan items carried in an ApprovalRequested event (the approvals row keeps them all)."""
_ASKING: set[tuple[str, int]] = set()
"""(database, approval id) of the requests being asked in this process, whichever gate asks them."""


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

    def lines(self, sample: int = SAMPLE_LINES) -> list[str]:
        """The request as plain text lines (the terminal prompt and the CLI listing)."""
        return [f"approval #{self.approval_id} · workflow {self.workflow}"
                + (f" · run #{self.run_id}" if self.run_id else ""), *describe_plan(self.plan, sample)]


Asker = Callable[[ApprovalRequest], Awaitable[Decision]]


def current_user() -> str:
    """Who is deciding (or on whose behalf the policy acts): the OS user."""
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return "unknown"


def _money(key: str, value: Any) -> str:
    return f"${value:,.2f}" if key in ("balance", "amount") and isinstance(value, int | float) else str(value)


def item_line(item: dict[str, Any]) -> str:
    """``Jane Doe (#42): balance $120.00, 21 days past due, badge B-0042 active -> suspended``."""
    parts = []
    for key, value in item.items():
        if key in ("id", "name", "key", "person_kind", "text", "channel", "door_now", "door_after") or value in (None, ""):
            continue
        if key == "days_past_due":
            parts.append(f"{value} days past due")
        elif key == "to":
            parts.append(f"to {value}")
        else:
            parts.append(f"{key.replace('_', ' ')} {_money(key, value)}")
    if "door_after" in item:
        parts.append(f"door {item.get('door_now')} -> {item['door_after']}")
    kind = item.get("person_kind")
    who = f"{item['name']} ({kind + ' ' if kind else ''}#{item['id']})"
    return who + (": " + ", ".join(parts) if parts else "")


def describe_plan(plan: ActionPlan | dict[str, Any], sample: int = SAMPLE_LINES) -> list[str]:
    """A plan as text: the action, each target (a sample for bulk acts), the message as sent, what is skipped."""
    data = plan.as_dict() if isinstance(plan, ActionPlan) else plan
    items = data["items"]
    total = data.get("item_count", len(items))  # an event's plan carries a sample of the items and the count
    lines = [f"{data['action']} · risk {data['risk']} · {total} {'target' if total == 1 else 'targets'}"
             + (f" ({total} messages)" if data.get("message") else "")]
    lines += [f"  - {item_line(item)}" for item in items[:sample]]
    if total > min(sample, len(items)):
        lines.append(f"  ... and {total - min(sample, len(items))} more")
    message = data.get("message")
    if message and items:
        subject = f", subject {message['subject']!r}" if message.get("subject") else ""
        lines.append(f"  message by {message.get('channel')}{subject}, as sent to {items[0]['name']}:")
        lines.append(f"    {items[0].get('text') or message.get('sample', '')}")
    skipped = data.get("skipped") or []
    if skipped:
        reasons: dict[str, int] = {}
        for entry in skipped:
            reasons[entry.get("reason", "")] = reasons.get(entry.get("reason", ""), 0) + 1
        shown = "; ".join(f"{count} {reason}" for reason, count in list(reasons.items())[:5])
        lines.append(f"  not included: {len(skipped)} ({shown})")
    return lines


def event_plan(plan: ActionPlan) -> dict[str, Any]:
    """The plan as an event carries it: every field, items cut to a sample with the full count."""
    data = plan.as_dict()
    data["item_count"] = len(plan.items)
    data["items"] = data["items"][:EVENT_SAMPLE]
    data["skipped"] = data["skipped"][:EVENT_SAMPLE]
    return data


def only(plan: ActionPlan, keys: Iterable[str] | None) -> ActionPlan:
    """The part of a plan a person approved; the rest becomes skipped as 'not approved'."""
    if keys is None:
        return plan
    chosen = set(keys)
    return ActionPlan(plan.tool, plan.action, plan.risk, [i for i in plan.items if i.key in chosen],
                      plan.skipped + [{"id": i.target_id, "name": i.label, "reason": "not approved"}
                                      for i in plan.items if i.key not in chosen],
                      plan.args, plan.message)


def _detail(plan: ActionPlan, reason: str = "") -> str:
    names = ", ".join(f"{item.label} #{item.target_id}" for item in plan.items[:5])
    more = f" and {len(plan.items) - 5} more" if len(plan.items) > 5 else ""
    text = f"{plan.title}: {names}{more}"
    return f"{text} | {reason}" if reason else text


class ApprovalGate:
    """Decides every act by policy, asks a person when the policy says ``ask``, keeps the audit log."""

    def __init__(self, *, db: Database, config: Config, clock: Clock, bus: EventBus, asker: Asker | None = None) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.bus = bus
        self.asker = asker
        """How a person is asked; None means nobody is watching (requests are saved as pending)."""

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
        """A standing approval rule that covers this whole plan (engine/rules.py); only where a person would be asked."""
        from gymconsole.engine.rules import standing_decision

        return await standing_decision(self.db, self.config, self.clock, ctx, plan)

    async def _ask(self, ctx: ToolContext, plan: ActionPlan) -> Decision:
        timeout = self.config.safety.approval_timeout_seconds
        requested_at = iso(self.clock.now())
        asking: tuple[str, int] | None = None
        try:
            async with self.db.write() as tx:
                approval_id = await tx.insert(
                    "INSERT INTO approvals (run_id, workflow, tool, risk, title, plan, item_count, status, "
                    "requested_at, pid) VALUES (?, ?, ?, ?, ?, ?, ?, 'waiting', ?, ?)",
                    [ctx.run_id, ctx.workflow, plan.tool, plan.risk, plan.title, json.dumps(plan.as_dict()),
                     len(plan.items), requested_at, os.getpid()])
                assert approval_id is not None
                # Registered before COMMIT and kept until the outcome is stored: a pending() in this process
                # must never take a request that is on screen (or being settled) for a stale one.
                asking = (str(self.db.path), approval_id)
                _ASKING.add(asking)
            return await self._ask_person(ctx, plan, approval_id, requested_at, timeout)
        finally:
            if asking is not None:
                _ASKING.discard(asking)

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
        via = answer.via if answer.via in VIAS and answer.via not in ("policy", "timeout") else "cli"
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
        status = "pending" if decision.status == "timed_out" else decision.status
        async with self.db.write() as tx:
            changed = await tx.execute(
                "UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, decided_via = ?, reason = ?, "
                "approved_keys = ? WHERE id = ? AND status = 'waiting'",
                [status, None if status == "pending" else iso(self.clock.now()),
                 None if status == "pending" else decision.actor, None if status == "pending" else decision.via,
                 decision.reason, _keys_json(decision.approved_keys), decision.approval_id])
            if not changed:
                row = await tx.fetch_one("SELECT status FROM approvals WHERE id = ?", [decision.approval_id])
                return Decision("denied", "timeout", decision.actor, f"approval #{decision.approval_id} was decided "
                                f"elsewhere meanwhile (now {row['status'] if row else 'gone'}); not done here",
                                approval_id=decision.approval_id)
            await self._audit(tx, ctx.run_id, ctx.workflow, plan, decision)
        await self._emit(ctx.run_id, ctx.workflow, plan, decision)
        return decision

    async def mark_executed(self, decision: Decision, result: dict[str, Any]) -> None:
        """An approval given during a run has been carried out: note it, so it is never offered to finish again."""
        if decision.approval_id is None:
            return
        async with self.db.write() as tx:
            await tx.execute("UPDATE approvals SET executed_at = ?, result = ? WHERE id = ? AND executed_at IS NULL",
                             [iso(self.clock.now()), json.dumps(result, default=str), decision.approval_id])

    async def _record(self, run_id: int | None, workflow: str, plan: ActionPlan, decision: Decision) -> None:
        """One audit_log row, then one ApprovalDecided event, per decision."""
        async with self.db.write() as tx:
            await self._audit(tx, run_id, workflow, plan, decision)
        await self._emit(run_id, workflow, plan, decision)

    async def _audit(self, tx: Transaction, run_id: int | None, workflow: str, plan: ActionPlan,
                     decision: Decision) -> None:
        await tx.insert(
            "INSERT INTO audit_log (at, approval_id, run_id, workflow, tool, risk, decision, actor, via, item_count, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [iso(self.clock.now()), decision.approval_id, run_id, workflow, plan.tool, plan.risk, decision.status,
             decision.actor, decision.via, _count(plan, decision), _detail(plan, decision.reason)])

    async def _emit(self, run_id: int | None, workflow: str, plan: ActionPlan, decision: Decision) -> None:
        """Emitted outside any transaction: subscribers (the history recorder) write to the database too."""
        await self.bus.emit(ApprovalDecided(
            run_id or 0, workflow, approval_id=decision.approval_id, tool=plan.tool, status=decision.status,
            via=decision.via, actor=decision.actor, reason=decision.reason, approved_count=_count(plan, decision)))

    # --- deciding later -------------------------------------------------------

    async def _recover_stale(self) -> None:
        """Requests whose asking process is gone (killed, crashed) become pending: nobody answered them."""
        rows = await self.db.fetch_all("SELECT id, pid, run_id, workflow, plan FROM approvals WHERE status = 'waiting'")
        for row in rows:
            if self._still_asked(row):
                continue
            async with self.db.write() as tx:
                if self._still_asked(row):  # re-checked under the write lock: an answer may be settling now
                    continue
                if not await tx.execute("UPDATE approvals SET status = 'pending' WHERE id = ? AND status = 'waiting'",
                                        [row["id"]]):
                    continue
                plan = ActionPlan.from_dict(json.loads(row["plan"]))
                decision = Decision("timed_out", "timeout", current_user(),
                                    "the process that was asking ended; saved for a person to decide",
                                    approval_id=row["id"])
                await self._audit(tx, row["run_id"], row["workflow"], plan, decision)
            await self._emit(row["run_id"], row["workflow"], plan, decision)

    async def _interrupted(self, row: dict[str, Any]) -> bool:
        """An approval given during a run whose carrying out never finished: its process or its run is over."""
        if row["pid"] and row["pid"] != os.getpid() and pid_alive(row["pid"]):
            return False  # still being carried out by another process
        if row["run_id"] is None:
            return row["pid"] != os.getpid()
        run_status = await self.db.fetch_value("SELECT status FROM runs WHERE id = ?", [row["run_id"]])
        return run_status != "running" or row["pid"] != os.getpid()

    def _still_asked(self, row: dict[str, Any]) -> bool:
        """Is a person being asked this request, here or in another live process?"""
        if (str(self.db.path), row["id"]) in _ASKING:
            return True
        return bool(row["pid"]) and row["pid"] != os.getpid() and pid_alive(row["pid"])

    async def pending(self) -> list[dict[str, Any]]:
        """Requests waiting for a person, oldest first, each with what it would do.

        ``status`` is ``pending`` (decide it), ``executing`` (approved, carrying
        it out was interrupted: approve again to finish) or ``waiting`` (a person
        is being asked right now, in process ``pid``).
        """
        await self._recover_stale()
        rows = await self.db.fetch_all(
            "SELECT id, run_id, workflow, tool, risk, title, plan, item_count, status, requested_at, pid, decided_by, "
            "approved_keys FROM approvals WHERE status IN ('waiting', 'pending', 'executing') "
            f"OR ({_UNFINISHED}) ORDER BY id")
        out = []
        for row in rows:
            if row["status"] in ("approved", "partial"):
                if not await self._interrupted(row):
                    continue
                row["status"] = "executing"  # approved during its run; carrying it out was cut short
            plan = json.loads(row.pop("plan"))
            keys = row.pop("approved_keys")
            row["plan"] = plan
            row["approved_keys"] = json.loads(keys) if keys else None
            row["lines"] = describe_plan(plan)
            out.append(row)
        return out

    async def decide_pending(self, approval_id: int, approve: bool, *, actor: str, via: str, reason: str = "",
                             keys: Iterable[str] | None = None, dry_run: bool = False) -> dict[str, Any]:
        """Approve (all, or only ``keys``) or deny a pending request; an approval carries out the stored plan once.

        Raises :class:`ApprovalError` (one line) for an unknown request, one
        already decided, one being asked right now, or keys not in the plan.
        With ``dry_run`` an approval reports what it would do and decides nothing.
        """
        via = via if via in VIAS else "cli"
        await self._recover_stale()
        row = await self.db.fetch_one("SELECT * FROM approvals WHERE id = ?", [approval_id])
        if row is None:
            raise ApprovalError(f"no approval request #{approval_id}", usage=True)
        plan = ActionPlan.from_dict(json.loads(row["plan"]))
        status = row["status"]
        if status in ("approved", "partial") and row["executed_at"] is None and await self._interrupted(row):
            status = "executing"  # approved during its run, which ended before carrying it all out
        resuming = status == "executing" and approve
        if status == "waiting":
            raise ApprovalError(f"approval #{approval_id} is being asked right now (process {row['pid']}); "
                                "answer it there")
        if status not in ("pending", "executing") or (status == "executing" and not approve):
            by = f" by {row['decided_by']} via {row['decided_via']} at {row['decided_at']}" if row["decided_by"] else ""
            raise ApprovalError(f"approval #{approval_id} was already decided: {status}{by}")
        if resuming:
            chosen = json.loads(row["approved_keys"]) if row["approved_keys"] else None
        else:
            chosen = self._chosen(plan, approval_id, keys)
        # What is carried out: the chosen items; the plan's own skipped list was shown when it was requested.
        part = only(ActionPlan(plan.tool, plan.action, plan.risk, plan.items, [], plan.args, plan.message), chosen)
        ctx = ToolContext(self.db, self.config, self.clock, workflow=row["workflow"], run_id=row["run_id"],
                          dry_run=dry_run)
        if dry_run and approve:
            return {"approval_id": approval_id, "status": "dry_run", "lines": describe_plan(part),
                    "result": await execute_plan(ctx, part)}
        if not approve:
            decision = Decision("denied", via, actor, reason or f"denied by {actor}", approval_id=approval_id)
        elif chosen is None:
            decision = Decision("approved", via, actor, reason, approval_id=approval_id)
        else:
            decision = Decision("partial", via, actor, reason or f"{len(chosen)} of {len(plan.items)} approved",
                                approved_keys=frozenset(chosen), approval_id=approval_id)
        if not resuming:
            async with self.db.write() as tx:
                if not await tx.execute(
                        "UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, decided_via = ?, reason = ?, "
                        "approved_keys = ? WHERE id = ? AND status = 'pending'",
                        ["executing" if approve else "denied", iso(self.clock.now()), actor, via, decision.reason,
                         _keys_json(decision.approved_keys), approval_id]):
                    raise ApprovalError(f"approval #{approval_id} was decided elsewhere meanwhile")
                await self._audit(tx, row["run_id"], row["workflow"], plan, decision)
            await self._emit(row["run_id"], row["workflow"], plan, decision)
        if not approve:
            return {"approval_id": approval_id, "status": "denied", "reason": decision.reason}
        return await self._carry_out(row, part, decision)

    async def keys_for(self, approval_id: int, target_ids: Iterable[int]) -> list[str]:
        """The plan keys of these targets (the IDs a listing shows), for a partial approval."""
        raw = await self.db.fetch_value("SELECT plan FROM approvals WHERE id = ?", [approval_id])
        if raw is None:
            raise ApprovalError(f"no approval request #{approval_id}", usage=True)
        by_id = {item["id"]: item["key"] for item in json.loads(raw)["items"]}
        wanted = list(target_ids)
        unknown = [str(i) for i in wanted if i not in by_id]
        if unknown:
            raise ApprovalError(f"approval #{approval_id} does not include {', '.join(unknown)} "
                                f"(its targets: {', '.join(str(i) for i in list(by_id)[:20])}{' ...' if len(by_id) > 20 else ''})",
                                usage=True)
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

    async def _carry_out(self, row: dict[str, Any], part: ActionPlan, decision: Decision) -> dict[str, Any]:
        """Execute an approved stored plan (the ledger keeps each act single) and record what happened."""
        approval_id = row["id"]
        ctx = ToolContext(self.db, self.config, self.clock, workflow=row["workflow"], run_id=row["run_id"])
        try:
            result = await execute_plan(ctx, part)
        except Exception as exc:
            log.exception("carrying out approval %s failed", approval_id)
            raise ApprovalError(f"approval #{approval_id}: carrying it out failed ({type(exc).__name__}: {exc}); "
                                "it stays approved: approve it again to finish") from None
        summary = f"done {result.get('done_count', 0)}, already done {result.get('already_done_count', 0)}, " \
                  f"skipped {result.get('skipped_count', 0)}"
        if result.get("skipped_by_reason"):
            summary += " (" + "; ".join(f"{n} {why}" for why, n in result["skipped_by_reason"].items()) + ")"
        async with self.db.write() as tx:
            await tx.execute("UPDATE approvals SET status = 'executed', executed_at = ?, result = ? WHERE id = ?",
                             [iso(self.clock.now()), json.dumps(result, default=str), approval_id])
            await tx.insert(
                "INSERT INTO audit_log (at, approval_id, run_id, workflow, tool, risk, decision, actor, via, item_count, "
                "detail) VALUES (?, ?, ?, ?, ?, ?, 'executed', ?, ?, ?, ?)",
                [iso(self.clock.now()), approval_id, row["run_id"], row["workflow"], part.tool, part.risk,
                 decision.actor, decision.via, result.get("done_count", 0), f"{part.title}: {summary}"])
        return {"approval_id": approval_id, "status": decision.status, "summary": summary, "result": result}


def _keys_json(keys: frozenset[str] | None) -> str | None:
    return None if keys is None else json.dumps(sorted(keys))


def _count(plan: ActionPlan, decision: Decision) -> int:
    """How many targets the decision lets happen (would happen, in a dry run)."""
    if not (decision.acts or decision.status == "dry_run"):
        return 0
    return len(plan.items) if decision.approved_keys is None else len(decision.approved_keys)
