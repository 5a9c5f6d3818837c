"""Small tools pay for what they do: at most one trip to the database thread (none when the reads are short), one
serialisation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gymconsole.config import Config
from gymconsole.db import Database
from gymconsole.tools import base
from gymconsole.tools.base import ActionPlan, ToolContext
from gymconsole.tools.registry import Decision, call_tool


async def _refuse(ctx: ToolContext, plan: ActionPlan) -> Decision:
    return Decision("denied", "policy", "test", "read only")


@pytest.fixture
def ctx(demo_db: Database, config: Config, clock: Any) -> ToolContext:
    return ToolContext(demo_db, config, clock, workflow="test")


async def statements_of(ctx: ToolContext, name: str, args: dict[str, Any]) -> tuple[list[str], Any]:
    seen: list[str] = []
    await ctx.db.set_trace_callback(seen.append)
    try:
        outcome = await call_tool(ctx, name, args, None, _refuse)
    finally:
        await ctx.db.set_trace_callback(None)
    return seen, outcome


async def test_get_member_is_one_statement_and_says_everything(ctx: ToolContext) -> None:
    seen, outcome = await statements_of(ctx, "get_member", {"member_id": 1})
    assert len(seen) == 1, seen
    member = outcome.result["member"]
    assert member["id"] == 1 and {"open_invoices", "notices_sent", "in_collections", "door"} <= set(member)
    expected_open = await ctx.db.fetch_one(
        "SELECT COUNT(*) AS n FROM invoices WHERE member_id = 1 AND status = 'open'")
    assert member["open_invoices"]["count"] == expected_open["n"]
    notices = await ctx.db.fetch_all("SELECT kind, MAX(created_at) AS at FROM outbox WHERE person_kind = 'member' "
                                     "AND person_id = 1 GROUP BY kind")
    assert member["notices_sent"] == {row["kind"]: row["at"] for row in notices}
    missing, _ = await statements_of(ctx, "get_member", {"member_id": 10**9})
    assert len(missing) == 1


async def test_the_bounded_result_is_serialised_once(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = base.compact_json

    def counting(value: Any) -> str:
        calls.append(1)
        return real(value)

    monkeypatch.setattr(base, "compact_json", counting)
    outcome = await call_tool(ctx, "get_member", {"member_id": 1}, None, _refuse)
    text = outcome.content()
    assert len(calls) == 1 and json.loads(text) == outcome.result


async def test_a_result_too_large_is_bounded_and_its_text_is_what_was_measured(ctx: ToolContext) -> None:
    big = {"rows": [{"id": n, "name": "x" * 50} for n in range(500)]}
    bounded, text = base.bound_json(big)
    assert len(text.encode()) <= base.MAX_RESULT_BYTES and bounded["truncated"] is True
    assert json.loads(text) == bounded


async def test_training_clients_read_their_covering_indexes(ctx: ToolContext) -> None:
    seen, _ = await statements_of(ctx, "get_past_due_training_clients", {})
    plans = [" | ".join(r["detail"] for r in await ctx.db.fetch_all("EXPLAIN QUERY PLAN " + sql)) for sql in seen]
    assert any("COVERING INDEX training_owing_by_trainer" in plan for plan in plans), plans
    assert any("COVERING INDEX training_owing_largest" in plan for plan in plans), plans
    assert not any("TEMP B-TREE" in plan for plan in plans), plans


@pytest.mark.parametrize("name", ["get_member", "get_past_due_training_clients", "get_ppv_members",
                                  "get_referral_candidates", "get_green_members"])
async def test_a_small_tool_makes_no_trip_and_answers_as_the_database_thread_does(
        ctx: ToolContext, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    args = {"member_id": 1} if name == "get_member" else {}
    trips: list[str] = []
    conn = ctx.db._conn
    real = conn._execute

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", "?"))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(conn, "_execute", counted)
    quick = await call_tool(ctx, name, args, None, _refuse)
    assert not quick.is_error and trips == [], trips
    monkeypatch.setattr(ctx.db, "_quick", None)  # the same tool through the database thread: one trip
    threaded = await call_tool(ctx, name, args, None, _refuse)
    assert len(trips) == 1, trips
    assert quick.result == threaded.result
