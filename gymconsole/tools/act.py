"""Acting tools: each plans from current data, then executes through the effects ledger.

Every act has an idempotency key ``action:target:period`` (whichever workflow asks) and runs
through :func:`gymconsole.tools.ledger.run_items`: re-check the guard rails,
claim the key, act and mark it done in one ``BEGIN IMMEDIATE`` transaction,
so an act happens exactly once however often it is asked for, retried or
re-run after a crash.

A plan is what a person approves, so it carries everything that will happen:
the targets by name and ID, amounts, doors and, for messages, each text as it
will be sent.  Execution sends exactly the planned text; when current data
would change it (a balance moved since the plan), that item is skipped with
the reason instead of doing something nobody saw.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from gymconsole.db import Transaction
from gymconsole.tools import guards
from gymconsole.tools.base import ActionPlan, PlanItem, Tool, ToolContext, dollars
from gymconsole.present.words import money
from gymconsole.tools import messages
from gymconsole.tools.ledger import Check, effect_key, run_items, run_items_remote
from gymconsole.tools.read import ACTIVE_CLAUSE

if TYPE_CHECKING:  # the definitions; what runs is their schemas (gymconsole/tools/schemas.py)
    from gymconsole.tools.args import (CampaignArgs, FlagArgs, MemberIdsArgs, NotifyArgs, RestoreArgs, RewardArgs,
                                       SuspendArgs)

def _plan(tool: str, action: str, risk: str, args: Mapping[str, Any], items: list[PlanItem],
          skipped: list[dict[str, Any]], message: dict[str, Any] | None = None) -> ActionPlan:
    return ActionPlan(tool, action, risk, items, skipped, dict(args), message)  # type: ignore[arg-type]


async def _message_risk(ctx: ToolContext, items: list[PlanItem], kinds: tuple[str, ...]) -> str:
    """Messages are moderate, bulk sends high: this call's recipients plus what this run already sent."""
    total = len(items) + await guards.messages_this_run(ctx, ctx.db, kinds)
    return "high" if items and total >= ctx.config.safety.bulk_threshold else "moderate"


def _message(ctx: ToolContext, channel: str, subject: str, template: str, items: list[PlanItem]) -> dict[str, Any]:
    sample = items[0].detail["text"] if items else ""
    headers = messages.email_headers(ctx.config) if channel == "email" else {}
    return {"channel": channel, **headers, "subject": subject, "template": template, "count": len(items),
            "sample": sample}


def _ids(values: list[int]) -> list[int]:
    return list(dict.fromkeys(values))


def _label(person: dict[str, Any] | None, fallback: str) -> str:
    return f"{person['first_name']} {person['last_name']}" if person else fallback




MemberCheck = Callable[[dict[str, Any] | None], str | None]


async def _plan_members(ctx: ToolContext, args: MemberIdsArgs, action: str, check: MemberCheck,
                        period_of: Callable[[dict[str, Any]], str],
                        detail: Callable[[dict[str, Any]], dict[str, Any]]) -> tuple[list[PlanItem], list[dict[str, Any]]]:
    items, skipped = [], []
    for member_id in _ids(args["member_ids"]):
        member = await guards.load_member(ctx.db, member_id)
        label = _label(member, f"#{member_id}")
        if reason := check(member):
            skipped.append({"id": member_id, "name": label, "reason": reason})
            continue
        assert member is not None
        key = effect_key(action, f"member-{member_id}", period_of(member))
        items.append(PlanItem(member_id, label, key, detail(member)))
    return items, skipped


# --- door access -------------------------------------------------------------






DOORS = "all entrances"


def _door_detail(ctx: ToolContext, member: dict[str, Any], new_state: str) -> dict[str, Any]:
    return {"balance": dollars(member["balance_cents"]),
            "days_past_due": guards.days_between(member["past_due_since"], ctx.today()) if member["balance_cents"] > 0 else 0,
            "doors": DOORS, "badge": member["badge_code"], "door_now": member["access_state"], "door_after": new_state}


async def record_door_change(tx: Transaction, member_id: int, action: str, state: str, reason: str, key: str,
                             run_id: int | None, at: str) -> dict[str, Any]:
    """The one place a stored door credential changes (after the controller confirmed, when there is one)."""
    await tx.execute("UPDATE door_credentials SET access_state = ?, changed_at = ?, reason = ? WHERE member_id = ?",
                     [state, at, reason, member_id])
    await tx.insert("INSERT INTO door_changes (effect_key, member_id, action, reason, changed_at, run_id) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (effect_key) DO NOTHING",
                    [key, member_id, action, reason, at, run_id])
    return {"door": state}


async def _execute_door(ctx: ToolContext, plan: ActionPlan, check: Check, action: str, state: str,
                        reason: str) -> dict[str, Any]:
    """With the database as the door system, one transaction per item; with a controller, the network call
    sits between two short transactions (never inside one), and intents an earlier process left are settled
    first."""
    from gymconsole.delivery import door  # the controller adapter, only when one is configured

    controller = door.controller_for(ctx.config)
    if controller is None:
        return await run_items(ctx, plan, check, lambda tx, item: record_door_change(
            tx, item.target_id, action, state, reason, item.key, ctx.run_id, ctx.now_iso()))
    if not ctx.dry_run:
        await door.reconcile_door_intents(ctx.db, ctx.config, ctx.now_iso, controller)

    async def intent(tx: Transaction, item: PlanItem) -> dict[str, Any]:
        badge = await tx.fetch_value("SELECT badge_code FROM door_credentials WHERE member_id = ?", [item.target_id])
        if badge is None:
            raise door.DoorControllerError(f"member #{item.target_id} has no door credential")
        return {"member_id": item.target_id, "badge": badge, "action": action, "state": state, "reason": reason,
                "run_id": ctx.run_id}

    async def remote(item: PlanItem, wanted: dict[str, Any]) -> None:
        await door.confirm_door_change(controller, wanted, item.key)

    async def confirm(tx: Transaction, item: PlanItem, wanted: dict[str, Any]) -> dict[str, Any]:
        return await record_door_change(tx, item.target_id, action, state, reason, item.key, ctx.run_id,
                                        ctx.now_iso())

    return await run_items_remote(ctx, plan, check, intent, remote, confirm)


async def plan_suspend(ctx: ToolContext, args: SuspendArgs) -> ActionPlan:
    items, skipped = await _plan_members(ctx, args, "suspend_door_access", lambda m: guards.check_suspend(ctx, m),
                                         lambda m: m["past_due_since"], lambda m: _door_detail(ctx, m, "suspended"))
    return _plan("suspend_door_access", "Suspend door access", "high", args, items, skipped)


async def execute_suspend(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    async def check(tx: Transaction, item: PlanItem) -> str | None:
        return guards.check_suspend(ctx, await guards.load_member(tx, item.target_id))

    return await _execute_door(ctx, plan, check, "suspend", "suspended", plan.args.get("reason") or "past due")


async def plan_restore(ctx: ToolContext, args: RestoreArgs) -> ActionPlan:
    items, skipped = await _plan_members(ctx, args, "restore_door_access", guards.check_restore,
                                         lambda m: m["door_changed_at"] or "", lambda m: _door_detail(ctx, m, "active"))
    return _plan("restore_door_access", "Restore door access", "high", args, items, skipped)


async def execute_restore(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    async def check(tx: Transaction, item: PlanItem) -> str | None:
        return guards.check_restore(await guards.load_member(tx, item.target_id))

    return await _execute_door(ctx, plan, check, "restore", "active", plan.args.get("reason") or "paid in full")


# --- collections -------------------------------------------------------------


async def plan_escalate(ctx: ToolContext, args: MemberIdsArgs) -> ActionPlan:
    items, skipped = [], []
    for member_id in _ids(args["member_ids"]):
        member = await guards.load_member(ctx.db, member_id)
        label = _label(member, f"#{member_id}")
        if reason := await guards.check_escalate(ctx, ctx.db, member):
            skipped.append({"id": member_id, "name": label, "reason": reason})
            continue
        assert member is not None
        key = effect_key("escalate_to_collections", f"member-{member_id}", member["past_due_since"])
        notice = await guards.final_notice_date(ctx.db, member)
        items.append(PlanItem(member_id, label, key, {
            "amount": dollars(member["balance_cents"]), "past_due_since": member["past_due_since"],
            "days_past_due": guards.days_between(member["past_due_since"], ctx.today()),
            "final_notice_sent": notice}))
    return _plan("escalate_to_collections", "Hand over to collections", "high", args, items, skipped)


async def execute_escalate(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    async def check(tx: Transaction, item: PlanItem) -> str | None:
        member = await guards.load_member(tx, item.target_id)
        if reason := await guards.check_escalate(ctx, tx, member):
            return reason
        assert member is not None
        return _changed("balance", item.detail["amount"], dollars(member["balance_cents"]))

    async def act(tx: Transaction, item: PlanItem) -> dict[str, Any]:
        member = await guards.load_member(tx, item.target_id)
        assert member is not None
        days = guards.days_between(member["past_due_since"], ctx.today())
        await tx.insert("INSERT INTO collections (effect_key, member_id, amount_cents, days_past_due, escalated_at, run_id) "
                        "VALUES (?, ?, ?, ?, ?, ?)", [item.key, item.target_id, member["balance_cents"], days,
                                                      ctx.now_iso(), ctx.run_id])
        return {"amount": dollars(member["balance_cents"]), "days_past_due": days}

    return await run_items(ctx, plan, check, act)


def _changed(what: str, planned: Any, now: Any) -> str | None:
    """A planned value no longer holds: the item is skipped rather than done differently than approved."""
    if planned == now:
        return None
    return f"{what} changed since it was planned ({planned} -> {now}); plan it again"


# --- messages ----------------------------------------------------------------




async def plan_campaign(ctx: ToolContext, args: CampaignArgs) -> ActionPlan:
    t = ctx.config.thresholds
    channel, audience, stage = args["channel"], args["audience"], args["stage"]
    action = f"Send {channel} campaign to {audience.replace('_', ' ')}"
    skipped: list[dict[str, Any]] = []
    if guards.in_quiet_hours(ctx):
        skipped.append({"reason": guards.quiet_hours_reason(ctx)})
        return _plan("send_campaign", action, "moderate", args, [], skipped)
    remaining = max(0, t.campaign_daily_limit - await guards.campaign_sends_today(ctx, ctx.db))
    wanted = min(args["max_recipients"], remaining)
    if wanted < args["max_recipients"]:
        skipped.append({"reason": f"daily limit of {t.campaign_daily_limit} campaign sends: {remaining} left today"})
    address = "email" if channel == "email" else "phone"
    cooldown = ctx.days_ago_iso(t.prospect_cooldown_days)
    if audience == "prospects":
        # The contact queue in index order (the same shape as get_campaign_prospects' sample).
        where = [ACTIVE_CLAUSE, "opted_out = 0", "IFNULL(last_contacted, '') < ?", f"{address} IS NOT NULL",
                 "missing_since IS NULL"]
        params: list[Any] = [cooldown]
        if stage:
            where.append("stage = ?")
            params.append(stage)
        index = "prospects_contactable" if stage else "prospects_queue"
        rows = await ctx.db.fetch_all(
            f"SELECT id, first_name, last_name, {address} AS address FROM prospects INDEXED BY {index} "
            f"WHERE {' AND '.join(where)} ORDER BY last_contacted, id LIMIT ?", [*params, wanted])
        kind = "prospect"
    else:
        extra = "standing = 'green'" if audience == "green_members" else "membership_type = 'pay_per_visit'"
        rows = await ctx.db.fetch_all(
            f"SELECT m.id, m.first_name, m.last_name, m.{address} AS address FROM members m WHERE m.status = 'active' "
            f"AND m.opted_out = 0 AND m.missing_since IS NULL AND {extra} AND m.{address} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM outbox o "
            "WHERE o.person_kind = 'member' AND o.person_id = m.id AND o.kind = 'campaign' AND o.created_at >= ?) "
            "ORDER BY m.id LIMIT ?", [cooldown, wanted])
        kind = "member"
    items = [
        PlanItem(row["id"], f"{row['first_name']} {row['last_name']}",
                 effect_key("send_campaign", f"{kind}-{row['id']}", ctx.today()),
                 {"person_kind": kind, "to": row["address"], "channel": channel,
                  "text": messages.campaign_text(ctx.config, args["template"], channel, row)})
        for row in rows
    ]
    risk = await _message_risk(ctx, items, ("campaign",))
    return _plan("send_campaign", action, risk, args, items, skipped,
                 _message(ctx, channel, args["subject"], args["template"], items))


async def _person(tx: Transaction, kind: str, person_id: int) -> dict[str, Any] | None:
    table = "prospects" if kind == "prospect" else "members"
    return await tx.fetch_one(f"SELECT * FROM {table} WHERE id = ?", [person_id])


async def execute_campaign(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    limit = ctx.config.thresholds.campaign_daily_limit
    template = plan.args["template"]

    async def check(tx: Transaction, item: PlanItem) -> str | None:
        if guards.in_quiet_hours(ctx):
            return guards.quiet_hours_reason(ctx)
        if await guards.campaign_sends_today(ctx, tx) >= limit:
            return f"daily limit of {limit} campaign sends reached"
        person = await _person(tx, item.detail["person_kind"], item.target_id)
        if item.detail["person_kind"] == "prospect":
            reason = await guards.check_prospect(ctx, tx, person)
        else:
            reason = await guards.check_marketing_member(ctx, tx, person)
        now = messages.campaign_text(ctx.config, template, plan.args["channel"], person or {})
        return reason or _changed("text", item.detail["text"], now)

    async def act(tx: Transaction, item: PlanItem) -> dict[str, Any]:
        await _queue_message(ctx, tx, item, "campaign", item.detail["person_kind"], plan.args["channel"],
                             item.detail["to"], plan.args.get("subject", ""), item.detail["text"])
        if item.detail["person_kind"] == "prospect":
            await tx.execute("UPDATE prospects SET last_contacted = ?, stage = CASE WHEN stage = 'new' THEN "
                             "'contacted' ELSE stage END WHERE id = ?", [ctx.now_iso(), item.target_id])
        return {"queued": plan.args["channel"]}

    return await run_items(ctx, plan, check, act)


async def _queue_message(ctx: ToolContext, tx: Transaction, item: PlanItem, kind: str, person_kind: str,
                         channel: str, to: str, subject: str, body: str) -> None:
    await tx.insert(
        "INSERT INTO outbox (effect_key, kind, channel, person_kind, person_id, to_address, subject, body, created_at, "
        "run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [item.key, kind, channel, person_kind, item.target_id, to, subject, body, ctx.now_iso(), ctx.run_id])




async def plan_notify(ctx: ToolContext, args: NotifyArgs) -> ActionPlan:
    kind, channel = args["kind"], args["channel"]
    label = "final notice" if kind == "final_notice" else "past-due reminder"
    if guards.in_quiet_hours(ctx):
        return _plan("notify_past_due_member", f"Send {label}", "moderate", args, [],
                     [{"reason": guards.quiet_hours_reason(ctx)}])
    address = "email" if channel == "email" else "phone"

    def check(member: dict[str, Any] | None) -> str | None:
        if reason := guards.check_notify(ctx, member, kind):
            return reason
        assert member is not None
        return None if member[address] else f"no {address} on file"

    def period(member: dict[str, Any]) -> str:
        if kind == "final_notice":
            return member["past_due_since"]
        year, week, _ = ctx.local_now().isocalendar()
        return f"{year}-W{week:02d}"

    def detail(member: dict[str, Any]) -> dict[str, Any]:
        return {"balance": dollars(member["balance_cents"]), "to": member[address], "channel": channel,
                "days_past_due": guards.days_between(member["past_due_since"], ctx.today()),
                "text": messages.notice_text(ctx.config, kind, channel, member)}

    items, skipped = await _plan_members(ctx, args, f"notify_{kind}", check, period, detail)
    risk = await _message_risk(ctx, items, messages.NOTICE_KINDS)
    subject = messages.notice_subject(ctx.config) if channel == "email" else ""
    template = getattr(ctx.config.messages, kind)
    return _plan("notify_past_due_member", f"Send {label}", risk, args, items, skipped,
                 _message(ctx, channel, subject, template, items))


async def execute_notify(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    kind = plan.args["kind"]

    async def check(tx: Transaction, item: PlanItem) -> str | None:
        if guards.in_quiet_hours(ctx):
            return guards.quiet_hours_reason(ctx)
        member = await guards.load_member(tx, item.target_id)
        if reason := guards.check_notify(ctx, member, kind):
            return reason
        now = messages.notice_text(ctx.config, kind, plan.args["channel"], member or {})
        return _changed("text", item.detail["text"], now)

    async def act(tx: Transaction, item: PlanItem) -> dict[str, Any]:
        await _queue_message(ctx, tx, item, kind, "member", plan.args["channel"], item.detail["to"],
                             plan.message["subject"] if plan.message else messages.notice_subject(ctx.config),
                             item.detail["text"])
        return {"queued": kind}

    return await run_items(ctx, plan, check, act)


# --- referrals and invoices --------------------------------------------------




async def _referral(ctx: ToolContext, tx: Transaction, referral_id: int) -> tuple[dict[str, Any] | None, str | None]:
    row = await tx.fetch_one(
        "SELECT r.*, m.first_name, m.last_name, m.status AS member_status, m.missing_since FROM referrals r "
        "JOIN members m ON m.id = r.referrer_id WHERE r.id = ?", [referral_id])
    if row is None:
        return None, "no such referral"
    if row["status"] == "rewarded":
        return row, "already rewarded"
    if row["status"] != "joined":
        return row, f"referral is {row['status']}"
    if row["referred_on"] < ctx.days_ago(ctx.config.thresholds.referral_window_days):
        return row, "outside the reward window"
    if row["member_status"] != "active":
        return row, f"referrer is {row['member_status']}"
    if row["missing_since"]:
        return row, f"referrer is {guards.NOT_IN_EXPORT}"
    return row, None


async def plan_reward(ctx: ToolContext, args: RewardArgs) -> ActionPlan:
    amount = ctx.config.thresholds.referral_reward_amount
    items, skipped = [], []
    for referral_id in _ids(args["referral_ids"]):
        row, reason = await _referral(ctx, ctx.db, referral_id)
        label = f"{row['first_name']} {row['last_name']}" if row else f"referral #{referral_id}"
        if reason:
            skipped.append({"id": referral_id, "name": label, "reason": reason})
            continue
        assert row is not None
        items.append(PlanItem(referral_id, label, effect_key("issue_referral_reward", f"referral-{referral_id}", "once"),
                              {"member_id": row["referrer_id"], "amount": amount, "referred": row["referred_name"]}))
    return _plan("issue_referral_reward", f"Credit {money(amount)} referral reward", "moderate", args, items, skipped)


async def execute_reward(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    cents = round(ctx.config.thresholds.referral_reward_amount * 100)

    async def check(tx: Transaction, item: PlanItem) -> str | None:
        return (await _referral(ctx, tx, item.target_id))[1]

    async def act(tx: Transaction, item: PlanItem) -> dict[str, Any]:
        member_id = item.detail["member_id"]
        await tx.insert("INSERT INTO rewards (effect_key, referral_id, member_id, amount_cents, created_at, run_id) "
                        "VALUES (?, ?, ?, ?, ?, ?)", [item.key, item.target_id, member_id, cents, ctx.now_iso(), ctx.run_id])
        await tx.execute("UPDATE referrals SET status = 'rewarded', reward_cents = ? WHERE id = ?", [cents, item.target_id])
        await tx.execute("UPDATE members SET balance_cents = balance_cents - ? WHERE id = ?", [cents, member_id])
        return {"credited": dollars(cents)}

    return await run_items(ctx, plan, check, act)


async def plan_flag(ctx: ToolContext, args: FlagArgs) -> ActionPlan:
    # Notes are kept to one line (each is shown in one row of the approval); the last word on an invoice counts.
    invoices = [{**flag, "note": " ".join(flag["note"].split())} for flag in args["invoices"]]
    flags = list({flag["invoice_id"]: flag for flag in invoices}.values())
    rows = {row["id"]: row for row in await ctx.db.fetch_all(
        "SELECT i.id, i.amount_cents, i.status, m.first_name, m.last_name FROM invoices i "
        "JOIN members m ON m.id = i.member_id WHERE i.id IN (SELECT value FROM json_each(?))",
        [json.dumps([flag["invoice_id"] for flag in flags])])}
    items, skipped = [], []
    for flag in flags:
        invoice_id = flag["invoice_id"]
        row = rows.get(invoice_id)
        if row is None:
            skipped.append({"id": invoice_id, "reason": "no such invoice"})
            continue
        items.append(PlanItem(invoice_id, f"invoice #{invoice_id} ({row['first_name']} {row['last_name']})",
                              effect_key("flag_invoice", f"invoice-{invoice_id}", flag["reason"]),
                              {"amount": dollars(row["amount_cents"]), "status": row["status"], "reason": flag["reason"],
                               "note": flag["note"]}))
    return _plan("flag_invoice", "Flag invoices for review" if len(items) > 1 else "Flag invoice for review",
                 "moderate", {**args, "invoices": invoices}, items, skipped)


async def execute_flag(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    async def check(tx: Transaction, item: PlanItem) -> str | None:
        exists = await tx.fetch_value("SELECT 1 FROM invoices WHERE id = ?", [item.target_id])
        return None if exists else "no such invoice"

    async def act(tx: Transaction, item: PlanItem) -> dict[str, Any]:
        reason = f"{item.detail['reason']}: {item.detail.get('note', '')}".strip(": ")
        await tx.insert("INSERT INTO flags (effect_key, kind, subject_kind, subject_id, reason, created_at, run_id) "
                        "VALUES (?, 'invoice_review', 'invoice', ?, ?, ?, ?)",
                        [item.key, item.target_id, reason, ctx.now_iso(), ctx.run_id])
        return {"flagged": item.detail["reason"]}

    return await run_items(ctx, plan, check, act)


ACT_TOOLS: list[Tool] = [
    Tool("send_campaign", "Queue a marketing message to prospects or members. The console enforces the daily limit, "
         "cooldown, opt-outs and quiet hours and reports who was skipped and why. Sends to many people need a "
         "person's approval.", "CampaignArgs", "moderate", "act", plan=plan_campaign, execute=execute_campaign),
    Tool("notify_past_due_member", "Queue a past-due reminder or final notice (fixed text) to members. Members not "
         "past due, opted out, frozen or cancelled are skipped.", "NotifyArgs", "moderate", "act",
         plan=plan_notify, execute=execute_notify),
    Tool("escalate_to_collections", "Hand past-due accounts to the collections agency. Only accounts past the "
         "escalation threshold with a final notice sent are accepted; a person must approve.", "MemberIdsArgs", "high",
         "act", plan=plan_escalate, execute=execute_escalate),
    Tool("issue_referral_reward", "Credit the referral reward to members whose referral joined within the window.",
         "RewardArgs", "moderate", "act", plan=plan_reward, execute=execute_reward),
    Tool("flag_invoice", "Flag invoices for the manager's review (duplicate, unusual amount, overdue), all in "
         "one call.", "FlagArgs",
         "moderate", "act", plan=plan_flag, execute=execute_flag),
    Tool("suspend_door_access", "Suspend members' door access for non-payment. Only members past the suspension "
         "thresholds are accepted; a person must approve.", "SuspendArgs", "high", "act",
         plan=plan_suspend, execute=execute_suspend),
    Tool("restore_door_access", "Restore door access of suspended members who have paid in full; a person must "
         "approve.", "RestoreArgs", "high", "act", plan=plan_restore, execute=execute_restore),
]
