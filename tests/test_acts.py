"""Guard rails and the effects ledger of every acting tool, on hand-made rows at the edges of each rule.

The approver here approves everything (policy aside): what is tested is what the tools themselves refuse,
at planning time and again at execution, whatever the caller asks for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakeclock import FakeClock
from helpers_safety import add_final_notice, add_member, add_prospect, with_safety, with_thresholds

from gymconsole.db import Database
from gymconsole.tools.messages import render
from gymconsole.tools.base import ActionPlan, ToolContext
from gymconsole.tools.registry import REGISTRY, Decision, call_tool, execute_plan

TODAY = "2026-11-02"


def days_ago(days: int) -> str:
    from datetime import date, timedelta

    return (date(2026, 11, 2) - timedelta(days=days)).isoformat()


async def approve_all(ctx: ToolContext, plan: ActionPlan) -> Decision:
    return Decision("dry_run" if ctx.dry_run else "approved", "policy", "test")


@pytest.fixture
async def db(tmp_path: Path) -> Any:
    database = await Database.open(tmp_path / "gym.db", create=True)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def ctx(db: Database, config: Any, clock: FakeClock) -> ToolContext:
    return ToolContext(db, config, clock, "door_access", None)


async def call(ctx: ToolContext, name: str, args: dict[str, Any]) -> dict[str, Any]:
    outcome = await call_tool(ctx, name, args, None, approve_all)
    assert not outcome.is_error, outcome.result
    return outcome.result


def reasons(result: dict[str, Any]) -> dict[int, str]:
    return {entry["id"]: entry["reason"] for entry in result.get("skipped", []) if "id" in entry}


async def plan_of(ctx: ToolContext, name: str, args: dict[str, Any]) -> ActionPlan:
    tool = REGISTRY[name]
    return await tool.plan(ctx, tool.parse_args(args))


async def value(db: Database, sql: str, params: list[Any] | None = None) -> Any:
    return await db.fetch_value(sql, params or [])


# --- door access ----------------------------------------------------------------------------------


async def test_suspend_only_members_past_both_thresholds(db: Database, ctx: ToolContext) -> None:
    await add_member(db, 1, past_due_since=days_ago(14), balance_cents=5000)       # exactly at both: suspended
    await add_member(db, 2, past_due_since=days_ago(13), balance_cents=90000)      # a day short
    await add_member(db, 3, past_due_since=days_ago(90), balance_cents=4999)       # a cent short
    await add_member(db, 4, past_due_since=None, balance_cents=0, standing="green")
    await add_member(db, 5, status="frozen", past_due_since=days_ago(90))
    await add_member(db, 6, status="cancelled", past_due_since=days_ago(90))
    await add_member(db, 7, door=None, past_due_since=days_ago(90))
    await add_member(db, 8, door="suspended", past_due_since=days_ago(90))
    result = await call(ctx, "suspend_door_access", {"member_ids": [1, 2, 3, 4, 5, 6, 7, 8, 99]})
    assert result["done_count"] == 1 and result["done"][0]["id"] == 1
    assert result["skipped_count"] == 8
    plan = await plan_of(ctx, "suspend_door_access", {"member_ids": [2, 3, 4, 5, 6, 7, 8, 99]})
    assert {s["id"]: s["reason"] for s in plan.skipped} == {
        2: "only 13 days past due (suspend from 14)", 3: "balance $49.99 is under $50.00", 4: "not past due",
        5: "member is frozen", 6: "member is cancelled", 7: "has no door credential", 8: "already suspended",
        99: "no such member"}
    assert await value(db, "SELECT access_state FROM door_credentials WHERE member_id = 1") == "suspended"
    assert await value(db, "SELECT COUNT(*) FROM door_changes") == 1


async def test_suspend_follows_the_configured_thresholds(db: Database, ctx: ToolContext) -> None:
    await add_member(db, 1, past_due_since=days_ago(20), balance_cents=20000)
    strict = ToolContext(db, with_thresholds(ctx.config, suspend_after_days=30, suspend_min_amount=500.0), ctx.clock,
                         ctx.workflow)
    plan = await plan_of(strict, "suspend_door_access", {"member_ids": [1]})
    assert plan.items == [] and plan.skipped[0]["reason"] == "only 20 days past due (suspend from 30)"


async def test_suspension_is_rechecked_when_carried_out(db: Database, ctx: ToolContext) -> None:
    await add_member(db, 1, past_due_since=days_ago(30))
    await add_member(db, 2, past_due_since=days_ago(30))
    plan = await plan_of(ctx, "suspend_door_access", {"member_ids": [1, 2]})
    assert len(plan.items) == 2
    async with db.write() as tx:  # member 2 pays before the approval arrives
        await tx.execute("UPDATE members SET balance_cents = 0, past_due_since = NULL WHERE id = 2")
    result = await execute_plan(ctx, plan)
    assert result["done_count"] == 1 and reasons(result) == {2: "not past due"}
    assert await value(db, "SELECT access_state FROM door_credentials WHERE member_id = 2") == "active"


async def test_restore_only_members_in_good_standing(db: Database, ctx: ToolContext) -> None:
    await add_member(db, 1, door="suspended", balance_cents=0, past_due_since=None, standing="yellow")   # restored
    await add_member(db, 2, door="suspended", balance_cents=100, past_due_since=days_ago(20))
    await add_member(db, 3, door="suspended", balance_cents=0, past_due_since=None, standing="red")
    await add_member(db, 4, door="active", balance_cents=0, past_due_since=None, standing="green")
    await add_member(db, 5, door="suspended", balance_cents=0, past_due_since=None, status="frozen")
    await add_member(db, 6, door="suspended", balance_cents=0, past_due_since=None, status="cancelled")
    result = await call(ctx, "restore_door_access", {"member_ids": [1, 2, 3, 4, 5, 6]})
    assert result["done_count"] == 1 and result["done"][0]["id"] == 1
    assert reasons(result) == {2: "still owes $1.00", 3: "standing is red", 4: "door access is not suspended",
                               5: "member is frozen", 6: "member is cancelled"}
    assert await value(db, "SELECT reason FROM door_changes WHERE member_id = 1") == "paid in full"


# --- collections -----------------------------------------------------------------------------------


async def test_collections_only_past_threshold_after_a_final_notice_and_the_wait(db: Database,
                                                                                 ctx: ToolContext) -> None:
    since = days_ago(70)
    for member_id in range(1, 10):
        await add_member(db, member_id, past_due_since=since, balance_cents=50000)
    await add_final_notice(db, 1, f"{days_ago(10)}T14:00:00")                    # escalated
    await add_final_notice(db, 2, f"{days_ago(3)}T14:00:00")                     # notice too recent
    # 3: no final notice at all
    await add_final_notice(db, 4, f"{days_ago(10)}T14:00:00", status="failed")   # a failed notice is not a notice
    await add_final_notice(db, 5, f"{days_ago(80)}T14:00:00")                    # from an earlier episode
    async with db.write() as tx:
        await tx.execute("UPDATE members SET past_due_since = ? WHERE id = 6", [days_ago(59)])
        await tx.execute("UPDATE members SET balance_cents = 9999 WHERE id = 7")
        await tx.execute("UPDATE members SET status = 'frozen' WHERE id = 8")
        await tx.execute("UPDATE members SET status = 'cancelled' WHERE id = 9")
    for member_id in (6, 7, 8, 9):
        await add_final_notice(db, member_id, f"{days_ago(10)}T14:00:00")
    result = await call(ctx, "escalate_to_collections", {"member_ids": list(range(1, 10))})
    assert result["done_count"] == 1 and result["done"][0] == {"id": 1, "name": "Pat Member1", "amount": 500.0,
                                                               "days_past_due": 70}
    plan = await plan_of(ctx, "escalate_to_collections", {"member_ids": list(range(1, 10))})
    assert {s["id"]: s["reason"] for s in plan.skipped} == {
        1: "already with collections", 2: "final notice sent only 3 days ago (wait 7)",
        3: "no final notice sent yet", 4: "no final notice sent yet", 5: "no final notice sent yet",
        6: "only 59 days past due (collections from 60)", 7: "balance $99.99 is under $100.00",
        8: "member is frozen", 9: "member is cancelled"}
    assert await value(db, "SELECT COUNT(*) FROM collections") == 1


async def test_collections_skip_a_balance_that_changed_since_the_plan(db: Database, ctx: ToolContext) -> None:
    await add_member(db, 1, past_due_since=days_ago(70), balance_cents=50000)
    await add_final_notice(db, 1, f"{days_ago(10)}T14:00:00")
    plan = await plan_of(ctx, "escalate_to_collections", {"member_ids": [1]})
    async with db.write() as tx:
        await tx.execute("UPDATE members SET balance_cents = 30000 WHERE id = 1")
    result = await execute_plan(ctx, plan)
    assert result["done_count"] == 0
    assert reasons(result) == {1: "balance changed since it was planned (500.0 -> 300.0); plan it again"}


# --- messages ---------------------------------------------------------------------------------------


async def test_notices_respect_opt_outs_state_and_thresholds(db: Database, ctx: ToolContext) -> None:
    await add_member(db, 1, past_due_since=days_ago(20), first="Ann")
    await add_member(db, 2, past_due_since=days_ago(20), opted_out=1)
    await add_member(db, 3, past_due_since=days_ago(20), status="frozen")
    await add_member(db, 4, past_due_since=days_ago(10))              # reminder yes, final notice no
    await add_member(db, 5, past_due_since=days_ago(5))
    await add_member(db, 6, past_due_since=days_ago(20), email=None)
    result = await call(ctx, "notify_past_due_member", {"member_ids": [1, 2, 3, 4, 5, 6], "kind": "final_notice"})
    assert result["done_count"] == 1
    assert reasons(result) == {2: "opted out of messages", 3: "member is frozen",
                               4: "only 10 days past due (final notice from 14)",
                               5: "only 5 days past due (reminders from 7)", 6: "no email on file"}
    body = await value(db, "SELECT body FROM outbox WHERE person_id = 1")
    assert body.startswith("Hi Ann, this is a final notice: $200.00 is past due")
    reminders = await call(ctx, "notify_past_due_member", {"member_ids": [4, 5], "kind": "reminder"})
    assert reminders["done_count"] == 1 and reasons(reminders) == {5: "only 5 days past due (reminders from 7)"}


async def test_the_text_sent_is_the_text_approved(db: Database, ctx: ToolContext) -> None:
    await add_member(db, 1, past_due_since=days_ago(20), first="Ann", balance_cents=12000)
    await add_member(db, 2, past_due_since=days_ago(20), first="Bo", balance_cents=12000)
    plan = await plan_of(ctx, "notify_past_due_member", {"member_ids": [1, 2]})
    texts = {item.target_id: item.detail["text"] for item in plan.items}
    assert "$120.00" in texts[1] and texts[1].startswith("Hi Ann,")
    async with db.write() as tx:  # Bo paid part after the plan was shown: the approved text is now wrong
        await tx.execute("UPDATE members SET balance_cents = 5000 WHERE id = 2")
    result = await execute_plan(ctx, plan)
    assert result["done_count"] == 1 and "text changed since it was planned" in reasons(result)[2]
    assert await db.fetch_all("SELECT person_id, body FROM outbox") == [{"person_id": 1, "body": texts[1]}]


async def test_no_messages_in_quiet_hours(db: Database, config: Any) -> None:
    await add_member(db, 1, past_due_since=days_ago(20))
    await add_prospect(db, 1)
    late = FakeClock(datetime(2026, 11, 3, 2, 30, tzinfo=UTC))  # 21:30 in New York
    night = ToolContext(db, config, late, "past_due_monitoring")
    for name, args in (("notify_past_due_member", {"member_ids": [1]}),
                       ("send_campaign", {"audience": "prospects", "template": "Hi"})):
        result = await call(night, name, args)
        assert result["nothing_to_do"] and result["skipped"][0]["reason"].startswith("quiet hours (21:00-08:00)")
    day = FakeClock(datetime(2026, 11, 2, 23, 0, tzinfo=UTC))  # 18:00: planned in the day, carried out at night
    plan = await plan_of(ToolContext(db, config, day, "past_due_monitoring"), "notify_past_due_member",
                         {"member_ids": [1]})
    result = await execute_plan(night, plan)
    assert result["done_count"] == 0 and reasons(result)[1].startswith("quiet hours")
    assert await value(db, "SELECT COUNT(*) FROM outbox") == 0


async def test_campaigns_keep_the_daily_limit_cooldown_and_opt_outs(db: Database, ctx: ToolContext,
                                                                     clock: FakeClock) -> None:
    for prospect_id in range(1, 8):
        await add_prospect(db, prospect_id)
    await add_prospect(db, 8, opted_out=1)
    await add_prospect(db, 9, last_contacted=f"{days_ago(5)}T10:00:00")       # within the 14-day cooldown
    await add_prospect(db, 10, stage="lost")
    await add_prospect(db, 11, stage="joined")
    limited = ToolContext(db, with_thresholds(ctx.config, campaign_daily_limit=4), clock, "daily_campaigns")
    first = await call(limited, "send_campaign", {"audience": "prospects", "template": "Hi {first_name}",
                                                  "max_recipients": 1000})
    assert first["done_count"] == 4
    second = await call(limited, "send_campaign", {"audience": "prospects", "template": "Hi again"})
    assert second["nothing_to_do"] and "daily limit of 4 campaign sends: 0 left today" in second["skipped"][0]["reason"]
    sent = {row["person_id"] for row in await db.fetch_all("SELECT person_id FROM outbox")}
    assert sent == {1, 2, 3, 4}
    clock.advance(86400)  # the next day: the limit is fresh, the cooldown is not
    third = await call(limited, "send_campaign", {"audience": "prospects", "template": "Hi"})
    assert {d["id"] for d in third["done"]} == {5, 6, 7}
    assert await value(db, "SELECT COUNT(*) FROM outbox WHERE person_id IN (8, 9, 10, 11)") == 0


async def test_the_daily_limit_holds_at_execution_across_plans(db: Database, ctx: ToolContext, clock: FakeClock) -> None:
    for prospect_id in range(1, 7):
        await add_prospect(db, prospect_id, stage="new" if prospect_id <= 3 else "trial")
    limited = ToolContext(db, with_thresholds(ctx.config, campaign_daily_limit=4), clock, "daily_campaigns")
    other = ToolContext(db, limited.config, clock, "manual")
    plan_a = await plan_of(limited, "send_campaign", {"audience": "prospects", "template": "A", "stage": "new"})
    plan_b = await plan_of(other, "send_campaign", {"audience": "prospects", "template": "B", "stage": "trial"})
    assert len(plan_a.items) == len(plan_b.items) == 3  # both planned before either was sent
    await execute_plan(limited, plan_a)
    result = await execute_plan(other, plan_b)
    assert await value(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'campaign'") == 4
    assert "daily limit of 4 campaign sends reached" in result["skipped_by_reason"]


async def test_member_campaigns_leave_out_frozen_cancelled_and_opted_out(db: Database, ctx: ToolContext) -> None:
    await add_member(db, 1, standing="green", balance_cents=0, past_due_since=None)
    await add_member(db, 2, standing="green", balance_cents=0, past_due_since=None, opted_out=1)
    await add_member(db, 3, standing="green", balance_cents=0, past_due_since=None, status="frozen")
    await add_member(db, 4, standing="green", balance_cents=0, past_due_since=None, status="cancelled")
    await add_member(db, 5, standing="green", balance_cents=0, past_due_since=None)
    plan = await plan_of(ctx, "send_campaign", {"audience": "green_members", "template": "Hi {first_name}"})
    assert [item.target_id for item in plan.items] == [1, 5]
    async with db.write() as tx:  # member 5 opts out after the plan was made
        await tx.execute("UPDATE members SET opted_out = 1 WHERE id = 5")
    result = await execute_plan(ctx, plan)
    assert result["done_count"] == 1 and reasons(result) == {5: "opted out"}
    again = await call(ctx, "send_campaign", {"audience": "green_members", "template": "Hi"})
    assert again["nothing_to_do"]  # member 1 is in the cooldown now
    replay = await execute_plan(ctx, plan)  # the same stored plan carried out again
    assert replay["done_count"] == 0
    assert await value(db, "SELECT COUNT(*) FROM outbox") == 1


async def test_bulk_is_counted_per_run_so_splitting_does_not_dodge_approval(db: Database, config: Any,
                                                                           clock: FakeClock) -> None:
    from gymconsole.engine.history import RunRecorder

    run_id = await RunRecorder(db, clock).start_run("daily_campaigns", "manual", "offline", False)
    run = ToolContext(db, config, clock, "daily_campaigns", run_id)
    for prospect_id in range(1, 15):
        await add_prospect(db, prospect_id)
    first = await plan_of(run, "send_campaign", {"audience": "prospects", "template": "x", "max_recipients": 6})
    assert first.risk == "moderate"
    await execute_plan(run, first)
    second = await plan_of(run, "send_campaign", {"audience": "prospects", "template": "x", "max_recipients": 6})
    assert second.risk == "high"  # 6 sent + 6 more >= bulk_threshold 10
    fewer = ToolContext(db, with_safety(config, bulk_threshold=20), clock, "daily_campaigns", run_id)
    assert (await plan_of(fewer, "send_campaign", {"audience": "prospects", "template": "x",
                                                   "max_recipients": 6})).risk == "moderate"


def test_templates_cannot_raise_or_expand() -> None:
    person = {"first_name": "Ann", "last_name": "Lee", "balance_cents": 1234}
    assert render("Hi {first_name} {last_name}, {amount_due} at {gym_name}", person) == \
        "Hi Ann Lee, $12.34 at the gym"
    for hostile in ("{first_name:>999999999}", "{", "}", "{0}", "{first_name.__class__}", "{unknown}", "{{x}}"):
        assert render(hostile, person) == hostile


# --- the ledger: exactly once ------------------------------------------------------------------------


async def test_asking_twice_acts_once(db: Database, ctx: ToolContext) -> None:
    await add_member(db, 1, past_due_since=days_ago(20))
    notice = {"member_ids": [1], "kind": "final_notice"}
    first = await call(ctx, "notify_past_due_member", notice)
    retry = await call(ctx, "notify_past_due_member", notice)  # a retry after an API fault, a re-run
    assert first["done_count"] == 1
    assert retry["done_count"] == 0 and retry["already_done_count"] == 1 and "already done" in retry["note"]
    assert await value(db, "SELECT COUNT(*) FROM outbox") == 1
    key = await value(db, "SELECT key FROM effects")
    assert key == f"notify_final_notice:member-1:{days_ago(20)}"
    assert await value(db, "SELECT status FROM effects") == "done"


async def test_a_new_period_is_a_new_act(db: Database, ctx: ToolContext, clock: FakeClock) -> None:
    await add_member(db, 1, past_due_since=days_ago(20))
    reminder = {"member_ids": [1], "kind": "reminder"}
    assert (await call(ctx, "notify_past_due_member", reminder))["done_count"] == 1
    clock.advance(86400)  # same ISO week: still once
    assert (await call(ctx, "notify_past_due_member", reminder))["already_done_count"] == 1
    clock.advance(7 * 86400)  # the next week: a new reminder
    assert (await call(ctx, "notify_past_due_member", reminder))["done_count"] == 1
    assert await value(db, "SELECT COUNT(*) FROM outbox") == 2


async def test_suspend_restore_suspend_again_follow_the_episodes(db: Database, ctx: ToolContext,
                                                                 clock: FakeClock) -> None:
    await add_member(db, 1, past_due_since=days_ago(20))
    assert (await call(ctx, "suspend_door_access", {"member_ids": [1]}))["done_count"] == 1
    async with db.write() as tx:
        await tx.execute("UPDATE members SET balance_cents = 0, past_due_since = NULL, standing = 'green' WHERE id = 1")
    clock.advance(3600)
    assert (await call(ctx, "restore_door_access", {"member_ids": [1]}))["done_count"] == 1
    async with db.write() as tx:  # past due again, a new episode
        await tx.execute("UPDATE members SET balance_cents = 9000, past_due_since = ? WHERE id = 1", [days_ago(15)])
    assert (await call(ctx, "suspend_door_access", {"member_ids": [1]}))["done_count"] == 1
    actions = [r["action"] for r in await db.fetch_all("SELECT action FROM door_changes ORDER BY id")]
    assert actions == ["suspend", "restore", "suspend"]
    keys = [r["key"] for r in await db.fetch_all("SELECT key FROM effects ORDER BY created_at, key")]
    assert len(set(keys)) == 3 and keys[1].startswith("restore_door_access:member-1:2026-11-02T15:00:00")


async def test_rewards_and_flags_once(db: Database, ctx: ToolContext) -> None:
    await add_member(db, 1, balance_cents=0, past_due_since=None, standing="green")
    async with db.write() as tx:
        await tx.execute("INSERT INTO referrals (id, referrer_id, referred_name, referred_on, joined_on, status) "
                         "VALUES (1, 1, 'Kim', ?, ?, 'joined')", [days_ago(30), days_ago(20)])
        await tx.execute("INSERT INTO invoices (id, member_id, issued_on, due_on, amount_cents, status) "
                         "VALUES (1, 1, ?, ?, 0, 'open')", [days_ago(5), TODAY])
    assert (await call(ctx, "issue_referral_reward", {"referral_ids": [1]}))["done_count"] == 1
    again = await call(ctx, "issue_referral_reward", {"referral_ids": [1]})
    assert again["nothing_to_do"] and again["skipped"][0]["reason"] == "already rewarded"
    assert await value(db, "SELECT balance_cents FROM members WHERE id = 1") == -2500
    flag = {"invoices": [{"invoice_id": 1, "reason": "zero_or_negative", "note": "zero"}]}
    assert (await call(ctx, "flag_invoice", flag))["done_count"] == 1
    assert (await call(ctx, "flag_invoice", flag))["already_done_count"] == 1
    assert await value(db, "SELECT COUNT(*) FROM flags") == 1


async def test_one_call_flags_many_invoices_each_with_its_own_reason(db: Database, ctx: ToolContext) -> None:
    await add_member(db, 1, balance_cents=0, past_due_since=None, standing="green")
    async with db.write() as tx:
        for invoice_id, cents in ((1, 0), (2, 90000), (3, 90000)):
            await tx.execute("INSERT INTO invoices (id, member_id, issued_on, due_on, amount_cents, status) "
                             "VALUES (?, 1, ?, ?, ?, 'open')", [invoice_id, days_ago(5), TODAY, cents])
    result = await call(ctx, "flag_invoice", {"invoices": [
        {"invoice_id": 1, "reason": "zero_or_negative", "note": "zero"},
        {"invoice_id": 2, "reason": "large_amount", "note": "$900"},
        {"invoice_id": 3, "reason": "duplicate", "note": "same as\n#2"},
        {"invoice_id": 99, "reason": "other"}]})
    assert result["done_count"] == 3 and [s["reason"] for s in result["skipped"]] == ["no such invoice"]
    assert [d["flagged"] for d in result["done"]] == ["zero_or_negative", "large_amount", "duplicate"]
    rows = await db.fetch_all("SELECT subject_id, reason FROM flags ORDER BY subject_id")
    assert [(r["subject_id"], r["reason"]) for r in rows] == [
        (1, "zero_or_negative: zero"), (2, "large_amount: $900"), (3, "duplicate: same as #2")]
    refused = await call_tool(ctx, "flag_invoice", {"invoice_id": 1, "reason": "other"}, None, approve_all)
    assert refused.is_error and "invoices: required argument missing" in refused.result["error"]
