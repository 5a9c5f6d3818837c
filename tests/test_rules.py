"""Standing approval rules: one approves an act in its scope, and refuses (asks a person) outside it."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from fakeapi import Reply, Text, ToolUse
from helpers_engine import answer_no, engine

from gymconsole.engine.ask import Assistant
from gymconsole.engine.rules import RuleBook, RuleError
from gymconsole.present.run_events import RunPresenter
from gymconsole.tools.act import plan_notify
from gymconsole.tools.base import ToolContext
from gymconsole.tools.registry import REGISTRY

NOTIFY = REGISTRY["notify_past_due_member"]

TODAY = date(2026, 11, 2)


async def _owing(db, newer_than: int, older_than: int, n: int) -> list[int]:
    """Members a reminder may go to, past due for between ``older_than`` and ``newer_than`` days."""
    rows = await db.fetch_all(
        "SELECT id FROM members WHERE status = 'active' AND balance_cents > 0 AND opted_out = 0 AND email IS NOT NULL "
        "AND past_due_since <= ? AND past_due_since >= ? ORDER BY id LIMIT ?",
        [(TODAY - timedelta(days=older_than)).isoformat(), (TODAY - timedelta(days=newer_than)).isoformat(), n])
    assert len(rows) == n
    return [row["id"] for row in rows]


async def test_a_rule_approves_an_act_in_scope_and_refuses_others(config, demo_path, clock, fake_api):
    async with engine(config, demo_path, clock, api=fake_api, asker=answer_no) as (services, events):
        book = RuleBook(services.db, services.config, clock)
        rule = await book.add("notify_past_due_member", ["days_past_due <= 10"], days=30, max_per_day=2,
                              note="friendly reminders", actor="manager")
        recent = await _owing(services.db, newer_than=10, older_than=7, n=3)
        (late,) = await _owing(services.db, newer_than=60, older_than=15, n=1)
        fake_api.script([
            Reply([ToolUse("notify_past_due_member", {"member_ids": [recent[0]]})]),   # in scope: the rule approves
            Reply([ToolUse("notify_past_due_member", {"member_ids": [late]})]),        # 15+ days: outside its scope
            Reply([ToolUse("notify_past_due_member", {"member_ids": recent[1:]})]),   # in scope, over the daily 2
            Reply([Text("One reminder sent; two requests were declined.")]),
        ])
        result = await Assistant(services).ask("send payment reminders")
        sent = await services.db.fetch_all("SELECT person_id FROM outbox WHERE run_id = ?", [result.run_id])
        audit = await services.db.fetch_all("SELECT decision, actor, via, detail FROM audit_log WHERE run_id = ? "
                                            "ORDER BY id", [result.run_id])
        listed = await book.get(rule.id)
        replay = await services.history.events(result.run_id)
        stored = json.dumps([e.to_dict() for e in replay])

    assert [c["decision"] for c in result.tool_calls] == [f"rule #{rule.id}", "denied", "denied"]
    assert sent == [{"person_id": recent[0]}]
    # The audit log names the rule (via 'rule'), who made it and its scope.
    assert [(a["decision"], a["actor"], a["via"]) for a in audit] == [
        ("approved", f"rule #{rule.id}", "rule"), ("denied", "tester", "cli"), ("denied", "tester", "cli")]
    assert (f"standing rule #{rule.id} (made by manager): send past-due notice when days past due <= 10, "
            "up to 2 a day, until 2026-12-02") in audit[0]["detail"]
    assert [(u["item_count"], u["run_id"]) for u in listed.uses] == [(1, result.run_id)]
    # History: raw in --json (the stored events), plain words where it is read (history show, live view, CLI).
    assert f'"decision": "rule #{rule.id}"' in stored and '"via": "rule"' in stored
    presenter = RunPresenter()
    shown = "\n".join(line.plain for event in replay for line in presenter.lines(event))
    assert f"send past-due notice: approved by standing rule #{rule.id} (made by manager): send past-due notice " \
           "when days past due <= 10" in shown
    assert f"[approved by standing rule #{rule.id}]" in shown
    assert len(events.of("approval_requested")) == 2


async def test_rules_never_widen_policy_dry_run_or_outlive_revocation(config, demo_db, clock):
    from gymconsole.engine.events import EventBus
    from gymconsole.engine.gate import ApprovalGate

    book = RuleBook(demo_db, config, clock)
    rule = await book.add("notify_past_due_member", [], days=1, max_per_day=100, actor="manager")
    (member,) = await _owing(demo_db, newer_than=10, older_than=7, n=1)
    ctx = ToolContext(demo_db, config, clock, workflow="ask", run_id=None)
    plan = await plan_notify(ctx, NOTIFY.parse_args({"member_ids": [member]}))
    ask_policy = config.model_copy(update={"safety": config.safety.model_copy(update={"policy": {"moderate": "ask"}})})
    deny_policy = config.model_copy(update={"safety": config.safety.model_copy(update={"policy": {"moderate": "deny"}})})

    def gate(cfg):
        return ApprovalGate(db=demo_db, config=cfg, clock=clock, bus=EventBus(), asker=answer_no)

    assert (await gate(ask_policy).approve(ctx, plan)).actor == f"rule #{rule.id}"
    assert (await gate(deny_policy).approve(ctx, plan)).status == "denied"
    dry = ToolContext(demo_db, config, clock, workflow="ask", dry_run=True)
    assert (await gate(ask_policy).approve(dry, plan)).status == "dry_run"
    await book.revoke(rule.id, actor="manager")
    assert (await gate(ask_policy).approve(ctx, plan)).via == "cli"  # asked again, and the person said no
    assert await book.list() == []
    expiring = await book.add("notify_past_due_member", [], days=1, max_per_day=100, actor="manager")
    clock.advance(timedelta(days=1, seconds=1).total_seconds())
    assert await book.list() == [] and (await book.get(expiring.id)).revoked_at is None
    assert (await gate(ask_policy).approve(ctx, plan)).via == "cli"  # an expired rule approves nothing
    lifecycle = await demo_db.fetch_all("SELECT decision, actor, via, tool, detail FROM audit_log "
                                        "WHERE decision LIKE 'rule_%' ORDER BY id")
    assert [(a["decision"], a["actor"], a["via"], a["tool"]) for a in lifecycle] == [
        ("rule_added", "manager", "cli", "notify_past_due_member"),
        ("rule_revoked", "manager", "cli", "notify_past_due_member"),
        ("rule_added", "manager", "cli", "notify_past_due_member")]
    assert lifecycle[0]["detail"].startswith(f"standing rule #{rule.id}: send past-due notice when any target")


@pytest.mark.parametrize("kwargs, message", [
    ({"tool": "notify_past_due_member", "conditions": [], "days": 91, "max_per_day": 5}, "within 1 to 90 days"),
    ({"tool": "notify_past_due_member", "conditions": [], "days": 5}, "give a daily limit"),
    ({"tool": "get_member", "conditions": [], "days": 5, "max_per_day": 5}, "unknown acting tool"),
    ({"tool": "restore_door_access", "conditions": ["balance <= lots"], "days": 5, "max_per_day": 5}, "needs a number"),
    ({"tool": "restore_door_access", "conditions": ["badge = B-1"], "days": 5, "max_per_day": 5}, "unknown field"),
])
async def test_rules_are_scoped_and_expire(demo_db, config, clock, kwargs, message):
    book = RuleBook(demo_db, config, clock)
    tool = kwargs.pop("tool")
    conditions = kwargs.pop("conditions")
    with pytest.raises(RuleError, match=message):
        await book.add(tool, conditions, actor="manager", **kwargs)


async def test_an_amount_limit_counts_the_dollars_a_rule_approved_today(config, demo_db, clock):
    from gymconsole.engine.events import EventBus
    from gymconsole.engine.gate import ApprovalGate

    first, second = await _owing(demo_db, newer_than=60, older_than=7, n=2)
    ctx = ToolContext(demo_db, config, clock, workflow="past_due_monitoring", run_id=None)
    plans = [await plan_notify(ctx, NOTIFY.parse_args({"member_ids": [member]})) for member in (first, second)]
    balances = [plan.items[0].detail["balance"] for plan in plans]
    book = RuleBook(demo_db, config, clock)
    rule = await book.add("notify_past_due_member", [], days=5, max_amount_per_day=balances[0] + 0.01, actor="manager")
    ask_policy = config.model_copy(update={"safety": config.safety.model_copy(update={"policy": {"moderate": "ask"}})})
    gate = ApprovalGate(db=demo_db, config=ask_policy, clock=clock, bus=EventBus(), asker=answer_no)

    assert (await gate.approve(ctx, plans[0])).actor == f"rule #{rule.id}"
    assert (await gate.approve(ctx, plans[1])).status == "denied"  # over today's dollars: a person is asked
    clock.advance(timedelta(days=1).total_seconds())
    assert (await gate.approve(ctx, plans[0])).via == "rule"  # a new day, a new allowance
    assert [u["amount"] for u in (await book.get(rule.id)).uses] == [balances[0], balances[0]]


async def test_a_rule_for_final_notices_does_not_approve_reminders(config, demo_db, clock):
    """'Approve final notices for up to 20 members a day': the notice's kind is part of the rule's scope."""
    from gymconsole.engine.events import EventBus
    from gymconsole.engine.gate import ApprovalGate

    (member,) = await _owing(demo_db, newer_than=60, older_than=30, n=1)
    ctx = ToolContext(demo_db, config, clock, workflow="past_due_monitoring", run_id=None)
    final = await plan_notify(ctx, NOTIFY.parse_args({"member_ids": [member], "kind": "final_notice"}))
    reminder = await plan_notify(ctx, NOTIFY.parse_args({"member_ids": [member], "kind": "reminder"}))
    assert final.items and reminder.items
    rule = await RuleBook(demo_db, config, clock).add("notify_past_due_member", ["kind = final_notice"], days=30,
                                                      max_per_day=20, actor="manager")
    ask_policy = config.model_copy(update={"safety": config.safety.model_copy(update={"policy": {"moderate": "ask"}})})
    gate = ApprovalGate(db=demo_db, config=ask_policy, clock=clock, bus=EventBus(), asker=answer_no)

    assert (await gate.approve(ctx, final)).actor == f"rule #{rule.id}"
    assert (await gate.approve(ctx, reminder)).status == "denied"  # not in its scope: the person was asked
