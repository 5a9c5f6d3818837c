"""All tools by name, and the one function that runs a tool call safely.

:func:`call_tool` is where every call passes: unknown tools, bad arguments and
handler failures become error results (never exceptions), acting tools go
through the approval hook, and every result is held under 4 KB.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gymconsole.db import DatabaseBusy, DatabaseFault
from gymconsole.tools.base import ActionPlan, Tool, ToolContext, bound_json, bound_result
from gymconsole.tools.names import TOOL_MODULES, TOOL_NAMES
from gymconsole.tools.schemas import InvalidArguments

log = logging.getLogger(__name__)


class ToolRegistry(MutableMapping[str, Tool]):
    """Every tool by name.  A tool module is imported the first time one of its tools is looked up (the names
    are known without it), so a command that calls one read tool does not load the acting tools, the guard
    rails and the ledger.  Setting a tool replaces it (tests do, to break one on purpose)."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._module_of = {name: module for module, names in TOOL_MODULES.items() for name in names}

    def __getitem__(self, name: str) -> Tool:
        tool = self._tools.get(name)
        if tool is None:
            module = self._module_of.get(name)
            if module is None:
                raise KeyError(name)
            self._load(module)
            tool = self._tools[name]
        return tool

    def __setitem__(self, name: str, tool: Tool) -> None:
        if name not in self._module_of:
            raise KeyError(f"{name!r} is not in gymconsole/tools/names.py")
        self[name]  # its module first, so loading it later cannot put the original back over this one
        self._tools[name] = tool

    def __delitem__(self, name: str) -> None:
        raise TypeError("tools cannot be removed from the registry")

    def __contains__(self, name: object) -> bool:
        return name in TOOL_NAMES

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(TOOL_NAMES))

    def __len__(self) -> int:
        return len(TOOL_NAMES)

    def _load(self, module: tuple[str, str]) -> None:
        path, attribute = module
        tools: list[Tool] = getattr(importlib.import_module(path), attribute)
        found = {tool.name for tool in tools}
        if found != TOOL_MODULES[module]:
            raise ImportError(f"gymconsole/tools/names.py does not match {path}.{attribute}: add "
                              f"{sorted(found - TOOL_MODULES[module])}, remove {sorted(TOOL_MODULES[module] - found)}")
        self._tools.update((tool.name, tool) for tool in tools)


REGISTRY = ToolRegistry()

DecisionStatus = Literal["approved", "partial", "denied", "timed_out", "dry_run"]


@dataclass(frozen=True)
class Decision:
    """What the approval gate decided about one action plan."""

    status: DecisionStatus
    via: str
    actor: str
    reason: str = ""
    approved_keys: frozenset[str] | None = None
    approval_id: int | None = None

    @property
    def acts(self) -> bool:
        return self.status in ("approved", "partial")


Approver = Callable[[ToolContext, ActionPlan], Awaitable[Decision]]


@dataclass
class ToolOutcome:
    """The result of one tool call as the model and the history see it."""

    name: str
    result: dict[str, Any]
    is_error: bool
    risk: str
    duration_ms: float
    decision: Decision | None = None
    plan: ActionPlan | None = None
    subjects: list[tuple[str, int]] = field(default_factory=list)
    text: str | None = None
    """The result as compact JSON, kept from bounding it (so it is serialised once)."""

    def content(self) -> str:
        if self.text is not None:
            return self.text
        return json.dumps(self.result, separators=(",", ":"), ensure_ascii=False, default=str)


def definitions(names: Iterable[str]) -> list[dict[str, Any]]:
    """Tool definitions for the Messages API, in a stable order."""
    return [REGISTRY[name].definition() for name in sorted(names)]


Executed = Callable[[Decision, dict[str, Any]], Awaitable[None]]
"""Told when an approved act has been carried out, or carrying it out raised (``{"error": ...}``); the gate
records it on the approval."""


async def call_tool(ctx: ToolContext, name: str, raw_input: Any, allowed: Iterable[str] | None,
                    approve: Approver, on_executed: Executed | None = None) -> ToolOutcome:
    """Run one tool call; never raises for anything the model sent."""
    started = time.perf_counter()

    def outcome(result: dict[str, Any], is_error: bool, risk: str = "safe", **extra: Any) -> ToolOutcome:
        bounded, text = bound_json(result)
        return ToolOutcome(name, bounded, is_error, risk, (time.perf_counter() - started) * 1000, text=text, **extra)

    tool = REGISTRY.get(name)
    allowed_names = set(allowed) if allowed is not None else TOOL_NAMES
    if tool is None or name not in allowed_names:
        return outcome({"error": f"unknown tool {name!r}; available: {', '.join(sorted(allowed_names))}"}, True)
    if not isinstance(raw_input, dict):
        return outcome({"error": "tool input must be a JSON object"}, True, tool.risk)
    try:
        args = tool.parse_args(raw_input)
    except InvalidArguments as exc:
        return outcome({"error": str(exc)}, True, tool.risk)
    try:
        if tool.kind == "read":
            assert tool.handler is not None
            result = await tool.handler(ctx, args)
            return outcome(result, "error" in result, tool.risk, subjects=_subjects(name, result))
        assert tool.plan is not None and tool.execute is not None
        from gymconsole.tools.guards import stale_data_block  # acts only: a read tool does not load the guard rails

        if refused := await stale_data_block(ctx, ctx.db, name, args):
            return outcome({"done_count": 0, "nothing_to_do": True, "refused": refused, "skipped_count": 1,
                            "skipped": [{"reason": refused}]}, False, tool.risk)
        plan = await tool.plan(ctx, args)
        subjects = _plan_subjects(plan)
        if not plan.items:
            return outcome({"done_count": 0, "nothing_to_do": True, "skipped": plan.skipped[:10],
                            "skipped_count": len(plan.skipped)}, False, plan.risk, plan=plan, subjects=subjects)
        decision = await approve(ctx, plan)
        if not decision.acts:
            result = {"not_done": decision.status, "reason": decision.reason or decision.status,
                      "would_have_affected": len(plan.items)}
            if decision.status == "dry_run":
                result = await tool.execute(ctx, plan)
            elif decision.status == "timed_out":
                result["pending_approval_id"] = decision.approval_id
                result["note"] = "saved for a person to decide later; do not retry"
            return outcome(result, False, plan.risk, decision=decision, plan=plan, subjects=subjects)
        chosen = plan
        if decision.approved_keys is not None:
            chosen = ActionPlan(plan.tool, plan.action, plan.risk,
                                [i for i in plan.items if i.key in decision.approved_keys],
                                plan.skipped + [{"id": i.target_id, "name": i.label, "reason": "not approved"}
                                                for i in plan.items if i.key not in decision.approved_keys],
                                plan.args, plan.message)
        try:
            result = await tool.execute(ctx, chosen)
        except BaseException as exc:  # recorded as failed (a person may approve it again), then handled as before
            if on_executed is not None and decision.approval_id is not None:
                await asyncio.shield(on_executed(decision, {"error": f"{type(exc).__name__}: {exc}"}))
            raise
        if on_executed is not None and decision.approval_id is not None:
            await on_executed(decision, result)
        return outcome(result, "error" in result, plan.risk, decision=decision, plan=chosen, subjects=subjects)
    except (DatabaseBusy, DatabaseFault):
        raise  # not the model's doing and nothing it can fix: the run ends, saying why in one line
    except Exception as exc:  # a handler bug must reach the model as an error result, not end the run
        log.exception("tool %s failed", name)
        return outcome({"error": f"tool failed: {type(exc).__name__}: {exc}"}, True, tool.risk)


async def execute_plan(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    """Carry out a stored, approved plan (pending approvals decided later)."""
    tool = REGISTRY[plan.tool]
    assert tool.execute is not None
    return bound_result(await tool.execute(ctx, plan))


def _plan_subjects(plan: ActionPlan) -> list[tuple[str, int]]:
    kind = {"issue_referral_reward": "referral", "flag_invoice": "invoice"}.get(plan.tool, "member")
    subjects = []
    for item in plan.items:
        person_kind = item.detail.get("person_kind", kind)
        subjects.append((person_kind, item.target_id))
        if "member_id" in item.detail:
            subjects.append(("member", item.detail["member_id"]))
    return subjects


def _subjects(name: str, result: dict[str, Any]) -> list[tuple[str, int]]:
    if name == "get_member" and "member" in result:
        return [("member", result["member"]["id"])]
    return []
