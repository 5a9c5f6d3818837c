"""One run in progress: its tool context, its events and what it has done so far.

Both the Claude loop (:mod:`agent`) and the offline playbooks (:mod:`offline`)
drive a run through a :class:`RunSession`: every tool call passes
:func:`~gymconsole.tools.registry.call_tool` with the approval gate, and
emits ``ToolCallStarted`` / ``ToolCallFinished`` with a one-line summary.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime
from dataclasses import dataclass, field
from typing import Any

from gymconsole.config import Config, ModelPrice
from gymconsole.engine.events import Event, EventBus, IterationStarted, TextDelta, ToolCallFinished, ToolCallStarted
from gymconsole.engine.outcome import count_acts
from gymconsole.engine.usage import UsageTotals
from gymconsole.tools.base import ToolContext
from gymconsole.tools.registry import REGISTRY, Approver, Executed, ToolOutcome, call_tool


@dataclass
class RunOutcome:
    """How an agent or a playbook ended a run."""

    status: str
    summary: str = ""
    error: str | None = None
    resume_at: datetime | None = None
    """For ``rate_limited``: when the API said requests could go on."""


@dataclass
class RunSession:
    """The state of one run, shared by the engine that drives it and the runner that records it."""

    ctx: ToolContext
    bus: EventBus
    approve: Approver
    tools: list[str]
    price: ModelPrice | None = None
    iterations: int = 0
    usage: UsageTotals = field(default_factory=UsageTotals)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    timed_out: list[int | None] = field(default_factory=list)
    """Approval IDs of requests that timed out and were saved as pending."""
    last_text: str = ""
    """The latest assistant (or playbook) text: the summary if the run is cut short."""
    executed: Executed | None = None
    """Told when an approved act was carried out (the gate marks the approval done)."""
    acts: Counter[str] = field(default_factory=Counter)
    """Targets of the acting tools by what became of them (done, skipped, denied, pending, failed)."""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def config(self) -> Config:
        return self.ctx.config

    @property
    def workflow(self) -> str:
        return self.ctx.workflow

    @property
    def run_id(self) -> int:
        return self.ctx.run_id or 0

    async def emit(self, event_type: type[Event], **fields: Any) -> None:
        await self.bus.emit(event_type(run_id=self.run_id, workflow=self.workflow, **fields))

    async def start_iteration(self) -> int:
        self.iterations += 1
        await self.emit(IterationStarted, iteration=self.iterations)
        return self.iterations

    async def say(self, text: str) -> None:
        """Narrate (text deltas as they arrive, or a whole playbook line)."""
        if text:
            await self.emit(TextDelta, text=text)

    async def call(self, name: str, raw_input: Any, call_id: str | None = None) -> ToolOutcome:
        """Run one tool call through the registry and the gate, with its two events."""
        call_id = call_id or f"call-{next(self._ids)}"
        tool = REGISTRY.get(name)
        await self.emit(ToolCallStarted, call_id=call_id, name=name, input=raw_input,
                        risk=tool.risk if tool and name in self.tools else "safe")
        outcome = await call_tool(self.ctx, name, raw_input, self.tools, self.approve, self.executed)
        return await self._finished(call_id, outcome)

    async def reject(self, call_id: str, name: str, raw_input: Any, error: str) -> ToolOutcome:
        """A call that is not run at all (malformed input, a cut-off answer): an error result, same events."""
        tool = REGISTRY.get(name)
        risk = tool.risk if tool and name in self.tools else "safe"
        await self.emit(ToolCallStarted, call_id=call_id, name=name, input=raw_input, risk=risk)
        return await self._finished(call_id, ToolOutcome(name, {"error": error}, True, risk, 0.0))

    async def _finished(self, call_id: str, outcome: ToolOutcome) -> ToolOutcome:
        name = outcome.name
        decision = decision_label(outcome)
        if outcome.decision is not None and outcome.decision.status == "timed_out":
            self.timed_out.append(outcome.decision.approval_id)
        self.tool_calls.append({"name": name, "is_error": outcome.is_error, "risk": outcome.risk,
                                "decision": decision})
        if outcome.decision is not None or "done_count" in outcome.result:
            count_acts(self.acts, outcome.result)
        await self.emit(ToolCallFinished, call_id=call_id, name=name, summary=summarize(outcome),
                        result=outcome.result, duration_ms=round(outcome.duration_ms, 2),
                        is_error=outcome.is_error, risk=outcome.risk, decision=decision,
                        subjects=[[kind, ident] for kind, ident in outcome.subjects])
        return outcome


def decision_label(outcome: ToolOutcome) -> str | None:
    """``auto`` for a policy approval, ``rule #N`` for a standing rule's, else the decision's status; None for
    reads and no-ops."""
    decision = outcome.decision
    if decision is None:
        return None
    if decision.status == "approved" and decision.via == "rule":
        return decision.actor  # "rule #N": which standing rule approved it
    if decision.status == "approved" and decision.via == "policy":
        return "auto"
    return decision.status


# --- one-line accounts of tool results -------------------------------------------

VERBS = {
    "send_campaign": "queued",
    "notify_past_due_member": "queued",
    "escalate_to_collections": "escalated",
    "issue_referral_reward": "credited",
    "flag_invoice": "flagged",
    "suspend_door_access": "suspended",
    "restore_door_access": "restored",
}


def _money(value: Any) -> str:
    return f"${float(value or 0):,.2f}"


def _read_summary(name: str, r: dict[str, Any]) -> str | None:
    if name == "get_campaign_prospects":
        return f"{r['active_prospects']:,} active prospects, {r['contactable_now']:,} contactable now"
    if name in ("get_green_members", "get_ppv_members"):
        kind = "members in good standing" if name == "get_green_members" else "pay-per-visit members"
        return f"{r['count']:,} {kind}, {r['not_visited_30_days']:,} not seen in 30 days"
    if name == "get_past_due_members":
        return f"{r['past_due_members']:,} members past due, {_money(r['total_owed'])} owed"
    if name == "get_past_due_training_clients":
        return f"{r['past_due_training_clients']:,} training clients past due, {_money(r['total_past_due'])}"
    if name == "get_referral_candidates":
        return f"{r['reward_due']:,} referrals due a reward"
    if name == "get_invoices_for_review":
        count = sum(v["count"] for v in r["by_status"].values())
        return (f"{count:,} invoices, {len(r['findings'])} findings, "
                f"{len(r['possible_duplicates'])} possible duplicates")
    if name == "get_door_access_status":
        return (f"{r['should_suspend']['count']:,} to suspend, {r['should_restore']['count']:,} to restore")
    if name == "query_gym":
        return f"{r['row_count']:,} row{'s' if r['row_count'] != 1 else ''}" + (", more not shown" if r["more_rows"] else "")
    if name == "get_member":
        m = r["member"]
        return f"{m['name']} (#{m['id']}): {m.get('status', '?')}, balance {_money(m.get('balance'))}"
    return None


def summarize(outcome: ToolOutcome) -> str:
    """A short, one-line account of a tool result: "3,832 active prospects", "suspended 2, skipped 1"."""
    r = outcome.result
    if outcome.is_error:
        return _one_line(str(r.get("error", "error")))
    verb = VERBS.get(outcome.name, "done")
    try:
        if "not_done" in r:
            if r["not_done"] == "timed_out":
                return f"waiting for approval #{r.get('pending_approval_id')} ({r['would_have_affected']} targets)"
            return _one_line(f"not done ({r['not_done']}): {r.get('reason', '')}")
        if r.get("dry_run"):
            return f"dry run: would have {verb} {r['would_do_count']}, skipped {r['skipped_count']}"
        if r.get("nothing_to_do"):
            reasons = {s.get("reason") for s in r.get("skipped", []) if s.get("reason")}
            why = f" ({next(iter(reasons))})" if len(reasons) == 1 else ""
            return _one_line(f"nothing to do; skipped {r.get('skipped_count', 0)}{why}")
        if "done_count" in r:
            text = f"{verb} {r['done_count']}"
            if r.get("already_done_count"):
                text += f", already done {r['already_done_count']}"
            if r.get("skipped_count"):
                text += f", skipped {r['skipped_count']}"
            return text
        text = _read_summary(outcome.name, r)
    except (KeyError, TypeError, AttributeError):
        text = None
    if text is None:
        scalars = [f"{k}={v}" for k, v in r.items() if isinstance(v, str | int | float | bool)][:4]
        text = ", ".join(scalars) or "ok"
    return _one_line(text + (" (truncated)" if r.get("truncated") else ""))


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
