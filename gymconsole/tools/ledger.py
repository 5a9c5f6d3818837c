"""The effects ledger: every act happens exactly once.

An act's idempotency key is ``action:target:period`` (the period is what
makes a repeat legitimate: a new past-due episode, a new day, a new week).
It does not name the workflow: one reminder per member per week whoever asks
for it, a scheduled workflow, the assistant or a saved question; the
``workflow`` column still records who did it.  :func:`run_items` executes a plan one item per ``BEGIN IMMEDIATE``
transaction: re-check the guard rails against current data, claim the key
(``INSERT ... ON CONFLICT DO NOTHING``), make the change, mark the key done,
commit.  A process killed mid-item leaves nothing (the transaction rolls
back) and the next run does the item; a process killed after the commit left
the key claimed, so the next run reports it as already done.  Re-running a
workflow, retrying after an API fault or approving the same plan twice never
acts twice.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from gymconsole.db import DatabaseBusy, DatabaseFault, Transaction
from gymconsole.tools.base import ActionPlan, PlanItem, ToolContext
from gymconsole.tools.guards import stale_data_block
from gymconsole.tools.schemas import SAMPLE_SIZE

log = logging.getLogger(__name__)
"""How many items of each kind (done, skipped, failed) an act's result lists; the counts cover them all."""


def effect_key(action: str, target: str, period: str) -> str:
    return f"{action}:{target}:{period}"


async def claim(ctx: ToolContext, tx: Transaction, item: PlanItem, action: str) -> bool:
    """Claim an idempotency key; False when the act was already done."""
    _, target, period = _split_key(item.key)
    inserted = await tx.insert(
        "INSERT INTO effects (key, workflow, action, target, period, status, run_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (key) DO NOTHING",
        [item.key, ctx.workflow, action, target, period, ctx.run_id, ctx.now_iso()],
    )
    return inserted is not None


async def mark_done(ctx: ToolContext, tx: Transaction, item: PlanItem, result: dict[str, Any]) -> None:
    await tx.execute(
        "UPDATE effects SET status = 'done', done_at = ?, result = ? WHERE key = ?",
        [ctx.now_iso(), json.dumps(result), item.key],
    )


def _split_key(key: str) -> tuple[str, str, str]:
    """The parts of a key; the period may itself hold colons (a timestamp), the others never do."""
    action, target, period = key.split(":", 2)
    return action, target, period


Check = Callable[[Transaction, PlanItem], Awaitable[str | None]]
Act = Callable[[Transaction, PlanItem], Awaitable[dict[str, Any]]]


def _skip(item: PlanItem, reason: str) -> dict[str, Any]:
    return {"id": item.target_id, "name": item.label, "reason": reason}


def _reasons(skipped: list[dict[str, Any]]) -> dict[str, int]:
    """How many were skipped for each reason; reasons differing only in numbers ('12 days', '13 days') count
    together under the folded text, a reason seen once keeps its numbers."""
    groups: dict[str, list[str]] = {}
    for entry in skipped:
        reason = entry.get("reason", "")
        groups.setdefault(re.sub(r"\$?\d[\d.,]*", "N", reason), []).append(reason)
    counted = Counter({(texts[0] if len(set(texts)) == 1 else folded): len(texts) for folded, texts in groups.items()})
    return dict(counted.most_common(8))


Intent = Callable[[Transaction, PlanItem], Awaitable[dict[str, Any]]]
Remote = Callable[[PlanItem, dict[str, Any]], Awaitable[None]]
Confirm = Callable[[Transaction, PlanItem, dict[str, Any]], Awaitable[dict[str, Any]]]

IN_FLIGHT: set[str] = set()
"""Keys this process has claimed and is carrying out on another system right now (see run_items_remote)."""


async def _check_and_claim(ctx: ToolContext, tx: Transaction, plan: ActionPlan, check: Check, item: PlanItem
                           ) -> tuple[str, Any] | None:
    """Re-check the item and claim its key; ``("skipped", reason)`` or ``("already", None)`` when it is not done."""
    reason = await check(tx, item)
    if reason is not None:
        return "skipped", reason
    if not await claim(ctx, tx, item, plan.tool):
        return "already", None
    return None


async def run_items(ctx: ToolContext, plan: ActionPlan, check: Check, act: Act) -> dict[str, Any]:
    """Execute planned items one transaction each: re-check, claim, act, mark done.

    In a dry run nothing is written: the result says what would be done.
    """

    async def one(item: PlanItem) -> tuple[str, Any]:
        async with ctx.db.write() as tx:
            if (refused := await _check_and_claim(ctx, tx, plan, check, item)) is not None:
                return refused
            outcome = await act(tx, item)
            await mark_done(ctx, tx, item, outcome)
            return "done", outcome

    return await _each(ctx, plan, one)


async def run_items_remote(ctx: ToolContext, plan: ActionPlan, check: Check, intent: Intent, remote: Remote,
                           confirm: Confirm) -> dict[str, Any]:
    """Execute items whose effect lives on another system (a door controller), never holding the write lock
    across the network: one short transaction re-checks, claims the key and records the intent (what
    ``intent`` returns, with this process's identity); then ``remote`` is called outside any transaction
    (it bounds its own time); then a second short transaction has ``confirm`` record the change and marks
    the key done.  When ``remote`` fails the claim is withdrawn, so a later run may try again; when the
    process dies in between, the claim stays pending with its intent, for a reconciler to settle (see
    :func:`gymconsole.delivery.door.reconcile_door_intents`), and no run acts on that key meanwhile.
    """
    from gymconsole.process import this_process  # noqa: PLC0415 (tools stays free of process lookups at import)

    async def one(item: PlanItem) -> tuple[str, Any]:
        async with ctx.db.write() as tx:
            if (refused := await _check_and_claim(ctx, tx, plan, check, item)) is not None:
                return refused
            wanted = await intent(tx, item)
            pid, started = this_process()
            await tx.execute("UPDATE effects SET result = ? WHERE key = ?", [json.dumps(
                {"intent": wanted, "pid": pid, "pid_started": started}), item.key])
            IN_FLIGHT.add(item.key)
        try:
            try:
                await remote(item, wanted)
            except BaseException:
                async with ctx.db.write() as tx:  # not made (or not known to be): withdraw the claim
                    await tx.execute("DELETE FROM effects WHERE key = ? AND status = 'pending'", [item.key])
                raise
            async with ctx.db.write() as tx:
                outcome = await confirm(tx, item, wanted)
                await mark_done(ctx, tx, item, outcome)
            return "done", outcome
        finally:
            IN_FLIGHT.discard(item.key)

    return await _each(ctx, plan, one)


async def _each(ctx: ToolContext, plan: ActionPlan, one: Callable[[PlanItem], Awaitable[tuple[str, Any]]]
                ) -> dict[str, Any]:
    done: list[dict[str, Any]] = []
    already: list[int] = []
    skipped = list(plan.skipped)
    if ctx.dry_run:
        return {"dry_run": True, "changed": "nothing (dry run)", "would_do_count": len(plan.items),
                "would_do": [item.as_dict() for item in plan.items[:SAMPLE_SIZE]],
                "skipped_count": len(skipped), "skipped": skipped[:SAMPLE_SIZE], "skipped_by_reason": _reasons(skipped)}
    failed: list[dict[str, Any]] = []
    refused = await stale_data_block(ctx, ctx.db, plan.tool, plan.args)  # an approval given before data went stale
    for item in plan.items:
        try:
            if refused is not None:
                skipped.append(_skip(item, refused))
                continue
            what, payload = await one(item)
        except (DatabaseBusy, DatabaseFault):
            raise  # the database itself refuses (full disk, busy past the bound): no use trying the next item
        except Exception as exc:  # this item's transaction (its claim too) rolled back: it can be tried again
            log.warning("%s for %s failed: %s", plan.tool, item.label, exc, exc_info=True)
            failed.append(_skip(item, f"failed: {exc}"))
            continue
        if what == "skipped":
            skipped.append(_skip(item, payload))
        elif what == "already":
            already.append(item.target_id)
        else:
            done.append({"id": item.target_id, "name": item.label, **payload})
    result: dict[str, Any] = {"done_count": len(done), "done": done[:SAMPLE_SIZE], "already_done_count": len(already),
                              "skipped_count": len(skipped), "skipped": skipped[:SAMPLE_SIZE]}
    if failed:
        result["failed_count"] = len(failed)
        result["failed"] = failed[:SAMPLE_SIZE]
        if not done:
            result["error"] = f"{len(failed)} of {len(plan.items)} not done; {failed[0]['name']}: {failed[0]['reason']}"
    if skipped:
        result["skipped_by_reason"] = _reasons(skipped)
    if already:
        result["already_done_ids"] = already[:SAMPLE_SIZE]
        result["note"] = "already done earlier (each act happens once)"
    return result
