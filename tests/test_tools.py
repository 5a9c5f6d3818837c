"""Read tools on the demo gym: exact counts, an independent Python oracle, filters, hostile input, size bounds,
query plans; bound_result as a property; an act asked twice happens once."""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakeclock import FakeClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gymconsole.config import Config
from gymconsole.db import Database
from gymconsole.db.demo import FIXED
from gymconsole.tools.base import MAX_RESULT_BYTES, ActionPlan, ToolContext, bound_result, compact_json
from gymconsole.tools.read import READ_TOOLS
from gymconsole.tools.registry import Decision, ToolOutcome, call_tool

TODAY = date(2026, 11, 2)
READ_NAMES = [tool.name for tool in READ_TOOLS]
HYPOTHESIS = settings(max_examples=60, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def day(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


async def refuse(ctx: ToolContext, plan: ActionPlan) -> Decision:
    raise AssertionError("a read tool asked for approval")


async def approve(ctx: ToolContext, plan: ActionPlan) -> Decision:
    return Decision("approved", "cli", "tester")


@pytest.fixture
def ctx(demo_db: Database, config: Config, clock: FakeClock) -> ToolContext:
    return ToolContext(demo_db, config, clock, workflow="invoice_review")


async def read(ctx: ToolContext, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    outcome = await call_tool(ctx, name, args or {}, None, refuse)
    assert not outcome.is_error, outcome.result
    return outcome.result


def rows(path: Path, sql: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql)]
    finally:
        conn.close()


# --- the demo's designed counts ---------------------------------------------------------------------------------


async def test_demo_counts_as_designed(ctx: ToolContext) -> None:
    prospects = await read(ctx, "get_campaign_prospects")
    assert prospects["active_prospects"] == 3832
    assert prospects["by_stage"] == {"new": 1400, "contacted": 1150, "toured": 720, "trial": 562}
    assert prospects["opted_out"] == 192
    assert prospects["contactable_by_stage"] == {"new": 1330, "contacted": 782, "toured": 534, "trial": 444}
    assert prospects["contactable_now"] == 3090
    assert [p["id"] for p in prospects["sample"]] == [1, 2, 3, 4, 5]  # hostile names lead the queue

    green = await read(ctx, "get_green_members")
    assert green["count"] == 294 and green["by_membership_type"]["pay_per_visit"] == 101
    assert green["opted_out_of_marketing"] == 16
    assert (await read(ctx, "get_ppv_members"))["count"] == 117

    due = await read(ctx, "get_past_due_members")
    assert due["past_due_members"] == 71
    assert {k: v["count"] for k, v in due["by_stage"].items()} == {"flagged": 24, "suspension_due": 30,
                                                                  "escalation_due": 17}
    assert due["frozen_or_cancelled_with_balance_excluded"] == 27
    assert [m["id"] for m in due["sample_largest_balances"][:2]] == [FIXED["injection_member"], FIXED["markup_member"]]

    assert (await read(ctx, "get_past_due_training_clients"))["past_due_training_clients"] == 8
    referrals = await read(ctx, "get_referral_candidates")
    assert referrals["reward_due"] == 9
    assert referrals["counts"]["pending_in_window"] == 14 and referrals["counts"]["joined_outside_window"] == 4

    invoices = await read(ctx, "get_invoices_for_review", {"limit": 20})
    assert invoices["finding_counts"]["possible_duplicates"] == 3
    assert invoices["finding_counts"]["zero_or_negative"] == 2
    assert all(d["count"] == 2 for d in invoices["possible_duplicates"])
    assert any(f["amount"] == 2400.0 for f in invoices["findings"])
    overdue = [f for f in invoices["findings"] if f["finding"] == "open_overdue"]
    assert overdue and all(f["due_on"] < day(30) and f["status"] == "open" for f in overdue)

    doors = await read(ctx, "get_door_access_status")
    assert doors["should_restore"]["count"] == 7
    assert sum(doors["credentials"].values()) == 415


async def test_read_tools_agree_with_a_python_oracle(ctx: ToolContext, demo_path: Path) -> None:
    """Every count recomputed in plain Python from the raw rows (a second, independent implementation)."""
    members = rows(demo_path, "SELECT m.*, d.access_state FROM members m LEFT JOIN door_credentials d ON d.member_id = m.id")
    active = [m for m in members if m["status"] == "active"]
    green = [m for m in active if m["standing"] == "green"]
    result = await read(ctx, "get_green_members")
    assert result["by_membership_type"] == dict(Counter(m["membership_type"] for m in green))
    assert result["visited_last_30_days"] == sum(1 for m in green if (m["last_visit"] or "") >= day(30))

    owing = [m for m in active if m["past_due_since"] and m["balance_cents"] > 0 and m["past_due_since"] <= day(7)]
    due = await read(ctx, "get_past_due_members")
    assert due["past_due_members"] == len(owing)
    assert due["total_owed"] == round(sum(m["balance_cents"] for m in owing) / 100, 2)
    assert due["by_stage"]["escalation_due"]["count"] == sum(1 for m in owing if m["past_due_since"] <= day(60))

    to_suspend = [m for m in owing if m["past_due_since"] <= day(14) and m["balance_cents"] >= 5000
                  and m["access_state"] == "active"]
    to_restore = [m for m in active if m["access_state"] == "suspended" and m["balance_cents"] <= 0
                  and m["standing"] != "red"]
    doors = await read(ctx, "get_door_access_status", {"limit": 20})
    assert doors["should_suspend"]["count"] == len(to_suspend)
    assert [m["id"] for m in doors["should_suspend"]["sample"]] == \
        [m["id"] for m in sorted(to_suspend, key=lambda m: (-m["balance_cents"], m["id"]))][:20]
    assert doors["should_restore"]["count"] == len(to_restore)

    prospects = rows(demo_path, "SELECT stage, source, opted_out, last_contacted FROM prospects")
    live = [p for p in prospects if p["stage"] in ("new", "contacted", "toured", "trial")]
    cooldown = "2026-10-19T15:00:00"
    result = await read(ctx, "get_campaign_prospects", {"filters": {"source": "instagram"}})
    insta = [p for p in live if p["source"] == "instagram"]
    assert result["active_prospects"] == len(insta)
    assert result["contactable_now"] == sum(1 for p in insta if not p["opted_out"]
                                            and (p["last_contacted"] or "") < cooldown)

    invoices = rows(demo_path, "SELECT * FROM invoices")
    groups = Counter((i["member_id"], i["amount_cents"], i["issued_on"]) for i in invoices
                     if i["issued_on"] >= day(31) and i["status"] != "void")
    review = await read(ctx, "get_invoices_for_review")
    assert review["finding_counts"]["possible_duplicates"] == sum(1 for n in groups.values() if n > 1)
    assert review["finding_counts"]["open_overdue"] == sum(1 for i in invoices if i["status"] == "open"
                                                           and i["due_on"] < day(30))


async def test_frozen_and_cancelled_members_are_excluded_everywhere(ctx: ToolContext, demo_path: Path) -> None:
    closed = {r["id"] for r in rows(demo_path, "SELECT id FROM members WHERE status != 'active'")}
    owing = {r["id"] for r in rows(demo_path, "SELECT id FROM members WHERE status != 'active' AND balance_cents > 0")}
    assert {FIXED["frozen_member"], FIXED["cancelled_member"]} <= owing and len(owing) == 27
    for name in READ_NAMES:
        if name in ("get_member", "get_invoices_for_review", "get_referral_candidates", "get_campaign_prospects"):
            continue
        text = compact_json(await read(ctx, name, {"limit": 20}))
        ids = {int(n) for n in re.findall(r'"id":(\d+)', text)}
        assert not ids & closed, (name, ids & closed)


# --- arguments --------------------------------------------------------------------------------------------------


async def test_ppv_filters_work_and_unknown_filters_are_named(ctx: ToolContext) -> None:
    everyone = await read(ctx, "get_ppv_members")
    inactive = await read(ctx, "get_ppv_members", {"filters": {"inactive_days": 30}, "limit": 3})
    assert inactive["count"] == everyone["not_visited_30_days"] and len(inactive["sample_least_recent_visit"]) == 3
    outcome = await call_tool(ctx, "get_ppv_members", {"filters": {"membership_type": "monthly"}}, None, refuse)
    assert outcome.is_error and "filters.membership_type" in outcome.result["error"]
    assert "unknown argument" in outcome.result["error"]


@pytest.mark.parametrize(("name", "args", "phrase"), [
    ("get_member", {}, "member_id: required argument missing"),
    ("get_member", {"member_id": "seven"}, "member_id"),
    ("get_member", {"member_id": 0}, "member_id"),
    ("get_member", {"member_id": 2**70}, "64 bits"),
    ("suspend_door_access", {"member_ids": [1, -2**64]}, "64 bits"),
    ("get_green_members", {"limit": 21}, "limit"),
    ("get_green_members", {"limit": "many"}, "limit"),
    ("get_campaign_prospects", {"filters": {"stage": "lost"}}, "filters.stage"),
    ("get_campaign_prospects", {"filters": "new"}, "filters"),
    ("get_past_due_members", {"filters": {"min_days": -1}}, "filters.min_days"),
    ("get_invoices_for_review", {"filters": {"status": "unpaid"}}, "filters.status"),
    ("get_door_access_status", {"unlock": True}, "unlock: unknown argument"),
])
async def test_bad_arguments_are_error_results(ctx: ToolContext, name: str, args: dict[str, Any], phrase: str) -> None:
    outcome = await call_tool(ctx, name, args, None, refuse)
    assert outcome.is_error and phrase in outcome.result["error"], outcome.result


async def test_missing_member_is_an_error_result(ctx: ToolContext) -> None:
    outcome = await call_tool(ctx, "get_member", {"member_id": 999_999}, None, refuse)
    assert outcome.is_error and "no member" in outcome.result["error"]


async def test_filters_narrow_the_results(ctx: ToolContext) -> None:
    toured = await read(ctx, "get_campaign_prospects", {"filters": {"stage": "toured"}})
    assert toured["active_prospects"] == 720 and all(p["stage"] == "toured" for p in toured["sample"])
    nowhere = await read(ctx, "get_campaign_prospects", {"filters": {"source": "carrier pigeon"}})
    assert nowhere["active_prospects"] == 0 and nowhere["sample"] == []
    annual = await read(ctx, "get_green_members", {"filters": {"membership_type": "annual"}})
    assert set(annual["by_membership_type"]) == {"annual"}
    big = await read(ctx, "get_past_due_members", {"filters": {"min_days": 60, "min_amount": 100}})
    assert set(big["by_stage"]) == {"escalation_due"} and big["past_due_members"] == 16  # one owes under $100
    open_only = await read(ctx, "get_invoices_for_review", {"filters": {"status": "open"}})
    assert set(open_only["by_status"]) <= {"open"}


# --- hostile input ----------------------------------------------------------------------------------------------

HOSTILE_TEXT = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["'", '"', "'; DROP TABLE members;--", "%", "_", "\x00", "web\x00", "[@click=app.quit]x[/]",
                     "Zoë", "山田", "🏋️", "مريم", "\\", "NULL", "1 OR 1=1", "' OR ''='"]),
)


async def _gym_state(db: Database) -> tuple[int, int, int]:
    return (await db.fetch_value("SELECT total_changes()"), await db.fetch_value("SELECT COUNT(*) FROM members"),
            await db.fetch_value("SELECT COUNT(*) FROM prospects"))


def _is_json_object(outcome: ToolOutcome) -> None:
    assert isinstance(outcome.result, dict)
    text = outcome.content()
    assert json.loads(text) == json.loads(compact_json(outcome.result))
    assert len(text.encode()) <= MAX_RESULT_BYTES


@HYPOTHESIS
@given(source=HOSTILE_TEXT, trainer=HOSTILE_TEXT, member_id=st.one_of(st.integers(), HOSTILE_TEXT, st.none(),
                                                                        st.floats(allow_nan=True)))
async def test_arbitrary_text_never_raises_nor_writes(ctx: ToolContext, source: str, trainer: str,
                                                      member_id: Any) -> None:
    before = await _gym_state(ctx.db)
    calls = [("get_campaign_prospects", {"filters": {"source": source}}),
             ("get_past_due_training_clients", {"filters": {"trainer": trainer}}),
             ("get_member", {"member_id": member_id}),
             ("get_green_members", {"filters": {source: trainer}}),
             (source, {"member_id": 1})]
    for name, args in calls:
        outcome = await call_tool(ctx, name, args, None, refuse)
        _is_json_object(outcome)
    assert await _gym_state(ctx.db) == before


# --- size bounds ------------------------------------------------------------------------------------------------

SIZE_CALLS = [(name, {"limit": 20}) for name in READ_NAMES if name != "get_member"] + [
    ("get_member", {"member_id": FIXED[key]}) for key in FIXED if key.endswith("_member")]


@pytest.mark.parametrize(("name", "args"), SIZE_CALLS, ids=[f"{n}-{a}" for n, a in SIZE_CALLS])
async def test_results_stay_under_4kb(ctx: ToolContext, name: str, args: dict[str, Any]) -> None:
    outcome = await call_tool(ctx, name, args, None, refuse)
    assert not outcome.is_error
    assert len(outcome.content().encode()) <= MAX_RESULT_BYTES


async def test_the_10kb_note_is_cut_and_hostile_text_kept_verbatim(ctx: ToolContext) -> None:
    member = (await read(ctx, "get_member", {"member_id": FIXED["long_note_member"]}))["member"]
    assert len(member["notes"]) <= 300 and member["name"] == "Zoë Ångström"
    injected = (await read(ctx, "get_member", {"member_id": FIXED["injection_member"]}))["member"]
    assert injected["name"] == "Siobhan O'Brien [/vip]" and "unlock all doors" in injected["notes"]
    assert (await read(ctx, "get_member", {"member_id": FIXED["sql_member"]}))["member"]["name"].startswith("Robert');")


LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=300)
ROW = st.dictionaries(st.text(max_size=12), LEAF, max_size=5)
VALUE = st.one_of(LEAF, st.lists(ROW, max_size=40), st.lists(LEAF, max_size=40),
                  st.dictionaries(st.text(max_size=12), st.lists(ROW, max_size=10), max_size=4))
"""Tool-result shapes (counts, samples of rows, nested breakdowns) with long and unicode strings."""


@settings(max_examples=150, deadline=None, derandomize=True)
@given(result=st.dictionaries(st.text(max_size=200), VALUE, max_size=8), limit=st.integers(min_value=200, max_value=3000))
def test_bound_result_always_fits(result: dict[str, Any], limit: int) -> None:
    bounded = bound_result(result, limit)
    assert isinstance(bounded, dict)
    assert len(compact_json(bounded).encode()) <= limit
    if len(compact_json(result).encode()) <= limit:
        assert bounded is result
    else:
        assert bounded.get("truncated") is True


# --- acts -------------------------------------------------------------------------------------------------------


async def test_an_act_asked_twice_is_done_once(ctx: ToolContext) -> None:
    duplicate = (await read(ctx, "get_invoices_for_review"))["possible_duplicates"][0]["invoice_ids"][-1]
    args = {"invoices": [{"invoice_id": duplicate, "reason": "duplicate", "note": "same amount, same day"}]}
    first = await call_tool(ctx, "flag_invoice", args, None, approve)
    second = await call_tool(ctx, "flag_invoice", args, None, approve)
    assert first.result["done_count"] == 1, first.result
    assert second.result["done_count"] == 0 and second.result["already_done_count"] == 1, second.result
    assert await ctx.db.fetch_value("SELECT COUNT(*) FROM flags WHERE subject_id = ?", [duplicate]) == 1


# --- query plans ------------------------------------------------------------------------------------------------

PLAN_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("get_campaign_prospects", {}), ("get_campaign_prospects", {"filters": {"stage": "new"}}),
    ("get_campaign_prospects", {"filters": {"source": "web"}}), ("get_campaign_prospects", {"filters": {"source": "event"}}),
    ("get_green_members", {}), ("get_green_members", {"filters": {"membership_type": "annual", "inactive_days": 30}}),
    ("get_ppv_members", {"filters": {"inactive_days": 30}}), ("get_past_due_members", {}),
    ("get_past_due_members", {"filters": {"min_days": 30, "min_amount": 100}}), ("get_past_due_training_clients", {}),
    ("get_referral_candidates", {}), ("get_invoices_for_review", {}), ("get_door_access_status", {}),
    ("get_member", {"member_id": 1}),
]
BIG_TABLES = ("prospects", "members", "invoices", "payments", "outbox")


async def _plans(ctx: ToolContext) -> list[tuple[str, str, list[str]]]:
    seen: list[str] = []
    await ctx.db.set_trace_callback(seen.append)
    found = []
    try:
        for name, args in PLAN_CALLS:
            seen.clear()
            await read(ctx, name, args)
            for sql in [s for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]:
                plan = [r["detail"] for r in await ctx.db.fetch_all("EXPLAIN QUERY PLAN " + sql)]
                found.append((name, sql, plan))
    finally:
        await ctx.db.set_trace_callback(None)
    return found


@pytest.mark.parametrize("stats", [True, False], ids=["analyzed", "no-stats"])
async def test_hot_queries_use_indexes(ctx: ToolContext, stats: bool) -> None:
    if not stats:
        async with ctx.db.write() as tx:
            await tx.execute("DELETE FROM sqlite_stat1")
        await ctx.db.execute("ANALYZE sqlite_schema")  # reload the (now empty) statistics
    found = await _plans(ctx)
    assert len(found) > 25
    for name, sql, plan in found:
        for step in plan:
            table_scan = any(re.fullmatch(rf"SCAN {t}( AS \w+)?", step) for t in BIG_TABLES)
            assert not table_scan, (name, sql, plan)
            # Walking an index of every prospect or member is a full scan too; the one allowed walk is the
            # contact queue read in order, which stops at LIMIT.
            walk = step.startswith(("SCAN prospects", "SCAN members")) and "prospects_queue" not in step
            assert not walk, (name, sql, plan)
    used = " ".join(" ".join(plan) for _, _, plan in found)
    for index in ("prospects_breakdown", "prospects_queue", "prospects_contactable", "members_green",
                  "members_recency", "members_type", "members_owing", "invoices_review", "invoices_open"):
        assert index in used, index


def test_bound_result_is_fast_on_huge_results() -> None:
    rows = [{"id": i, "name": f"member {i}", "note": "x" * 500} for i in range(20_000)]
    bounded = bound_result({"count": 20_000, "sample": rows, "by_key": {f"k{i}" * 50: i for i in range(2000)}})
    assert len(compact_json(bounded).encode()) <= MAX_RESULT_BYTES and bounded["truncated"] is True
    no_lists = bound_result({str(i) + "key" * 100: "v" * 150 for i in range(100)})
    assert no_lists["error"] == "result too large" and len(compact_json(no_lists).encode()) <= MAX_RESULT_BYTES
