"""Deciding later on what was shown: a request whose state changed since is refused; finishing one is exactly
what was approved before (``gate.pending_plan`` and ``gate.decide_pending``, over the demo database)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console
from test_gate import Env, pending_suspension

from gymconsole.db import Database
from gymconsole.engine import approvals as states
from gymconsole.engine.gate import ApprovalError
from gymconsole.tools.registry import Decision


@pytest.fixture
async def env(demo_db: Database, config: Any, clock: Any) -> Env:
    return Env(demo_db, config, clock)


async def partly_approved_then_interrupted(env: Env, approval_id: int, keys: set[str]) -> None:
    """Another console approves only ``keys``, and carrying them out fails before anything is done."""
    decision = Decision("partial", "cli", "other", "", approved_keys=frozenset(keys), approval_id=approval_id)
    await env.gate.store.move(approval_id, states.PARTLY_APPROVED, decision=decision)
    await env.gate.store.move(approval_id, states.FAILED, result={"error": "OperationalError: disk I/O error"})


async def test_what_was_approved_elsewhere_meanwhile_is_never_widened_or_swapped(env: Env) -> None:
    approval_id = await pending_suspension(env, [2, 350])
    seen = await env.gate.pending_plan(approval_id)  # the manager is shown it, pending, both ticked
    assert seen is not None and seen.status == "pending" and not seen.finishing
    first, second = [item.key for item in seen.plan.items]
    await partly_approved_then_interrupted(env, approval_id, {first})

    # The manager unticks the first and approves the second, on what they saw: refused, nothing done.
    with pytest.raises(ApprovalError, match=rf"approval #{approval_id} is interrupted now, not pending as shown"):
        await env.gate.decide_pending(approval_id, True, actor="dana", via="tui", keys=[second], seen=seen.status)
    # Targets chosen for finishing it (the CLI's --only) must be exactly those approved: never silently others.
    with pytest.raises(ApprovalError, match="approved for 1 of its 2 targets"):
        await env.gate.decide_pending(approval_id, True, actor="dana", via="cli", keys=[second])
    assert [await env.door(2), await env.door(350)] == ["active", "active"]

    again = await env.gate.pending_plan(approval_id)  # shown afresh: interrupted, only the approved target
    assert again is not None and again.status == "interrupted" and again.finishing
    assert [item.key for item in again.plan.items] == [first] and again.approved_keys == {first}
    assert [s["reason"] for s in again.plan.skipped] == ["not approved"]
    outcome = await env.gate.decide_pending(approval_id, True, actor="dana", via="tui",
                                            keys=sorted(again.approved_keys), seen=again.status)
    assert outcome["result"]["done_count"] == 1
    assert [await env.door(2), await env.door(350)] == ["suspended", "active"]


async def test_a_damaged_result_or_approved_keys_is_not_an_unreadable_plan(env: Env) -> None:
    approval_id = await pending_suspension(env, [2, 350])
    async with env.db.write() as tx:
        await tx.execute("UPDATE approvals SET result = '{broken' WHERE id = ?", [approval_id])
    shown = await env.gate.pending_plan(approval_id)  # the result is not read to show a plan
    assert shown is not None and len(shown.plan.items) == 2

    first = shown.plan.items[0].key
    await partly_approved_then_interrupted(env, approval_id, {first})
    async with env.db.write() as tx:
        await tx.execute("UPDATE approvals SET approved_keys = '{broken' WHERE id = ?", [approval_id])
    with pytest.raises(ApprovalError) as info:
        await env.gate.pending_plan(approval_id)
    assert "which targets were approved cannot be read" in str(info.value)
    assert "unreadable plan" not in str(info.value) and "\n" not in str(info.value)
    assert await env.gate.pending_plan(999) is None


async def test_the_cli_lists_an_interrupted_request_by_what_finishing_it_does(env: Env) -> None:
    from gymconsole.cli.approvals import _print_pending

    approval_id = await pending_suspension(env, [2, 350])
    shown = await env.gate.pending_plan(approval_id)
    assert shown is not None
    await partly_approved_then_interrupted(env, approval_id, {shown.plan.items[1].key})
    out = io.StringIO()
    assert _print_pending(Console(file=out, width=300), await env.gate.pending(), False, env.config) == 0
    listed = out.getvalue()
    assert "1 target" in listed and "(#350)" in listed and "(#2)" not in listed and "1 not approved" in listed
