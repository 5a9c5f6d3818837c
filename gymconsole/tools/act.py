"""Acting tools: each plans from current data, then executes through the effects ledger.

Every act has an idempotency key ``workflow:action:target:period``.  Execution
claims the key (``INSERT ... ON CONFLICT DO NOTHING``) inside the same
``BEGIN IMMEDIATE`` transaction that makes the change and marks it done, so an
act is recorded exactly once however often it is asked for, retried or
re-run after a crash.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import Field, field_validator

from gymconsole.db import Transaction
from gymconsole.tools import guards
from gymconsole.tools.base import SAMPLE_SIZE, ActionPlan, PlanItem, Tool, ToolArgs, ToolContext, dollars

TEMPLATE_FIELDS = ("first_name", "last_name", "amount_due", "gym_name")
GYM_NAME = "the gym"


class _Safe(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, person: dict[str, Any]) -> str:
    """Fill a message template; unknown placeholders stay as written, never raise."""
    values = _Safe(
        first_name=str(person.get("first_name", "")),
        last_name=str(person.get("last_name", "")),
        amount_due=f"${dollars(person.get('balance_cents')):.2f}",
        gym_name=GYM_NAME,
    )
    return template.format_map(values)


def effect_key(ctx: ToolContext, action: str, target: str, period: str) -> str:
    return f"{ctx.workflow}:{action}:{target}:{period}"


async def claim(ctx: ToolContext, tx: Transaction, item: PlanItem, action: str) -> bool:
    """Claim an idempotency key; False when the act was already done."""
    workflow, _, target, period = _split_key(item.key)
    inserted = await tx.insert(
        "INSERT INTO effects (key, workflow, action, target, period, status, run_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (key) DO NOTHING",
        [item.key, workflow, action, target, period, ctx.run_id, ctx.now_iso()],
    )
    return inserted is not None


async def mark_done(ctx: ToolContext, tx: Transaction, item: PlanItem, result: dict[str, Any]) -> None:
    await tx.execute(
        "UPDATE effects SET status = 'done', done_at = ?, result = ? WHERE key = ?",
        [ctx.now_iso(), json.dumps(result), item.key],
    )


def _split_key(key: str) -> tuple[str, str, str, str]:
    workflow, action, rest = key.split(":", 2)
    target, _, period = rest.rpartition(":")
    return workflow, action, target, period


Check = Callable[[Transaction, PlanItem], Awaitable[str | None]]
Act = Callable[[Transaction, PlanItem], Awaitable[dict[str, Any]]]


async def run_items(ctx: ToolContext, plan: ActionPlan, check: Check, act: Act) -> dict[str, Any]:
    """Execute planned items one transaction each: re-check, claim, act, mark done."""
    done: list[dict[str, Any]] = []
    already: list[int] = []
    skipped = list(plan.skipped)
    if ctx.dry_run:
        return {"dry_run": True, "would_do": [i.as_dict() for i in plan.items[:SAMPLE_SIZE]],
                "would_do_count": len(plan.items), "skipped": skipped[:SAMPLE_SIZE], "skipped_count": len(skipped),
                "changed": "nothing (dry run)"}
    for item in plan.items:
        async with ctx.db.write() as tx:
            reason = await check(tx, item)
            if reason is not None:
                skipped.append({"id": item.target_id, "name": item.label, "reason": reason})
                continue
            if not await claim(ctx, tx, item, plan.tool):
                already.append(item.target_id)
                continue
            outcome = await act(tx, item)
            await mark_done(ctx, tx, item, outcome)
            done.append({"id": item.target_id, "name": item.label, **outcome})
    return {
        "done_count": len(done),
        "done": done[:SAMPLE_SIZE],
        "already_done_count": len(already),
        "skipped_count": len(skipped),
        "skipped": skipped[:SAMPLE_SIZE],
    }


def _plan(ctx: ToolContext, tool: str, action: str, risk: str, args: ToolArgs, items: list[PlanItem],
          skipped: list[dict[str, Any]], message: dict[str, str] | None = None) -> ActionPlan:
    if tool in ("send_campaign", "notify_past_due_member"):
        risk = "high" if len(items) >= ctx.config.safety.bulk_threshold else risk
    return ActionPlan(tool, action, risk, items, skipped, args.model_dump(mode="json"), message)  # type: ignore[arg-type]


def _ids(values: list[int]) -> list[int]:
    return list(dict.fromkeys(values))


class MemberIdsArgs(ToolArgs):
    member_ids: list[int] = Field(min_length=1, max_length=200, description="IDs of the members.")


async def _plan_members(ctx: ToolContext, args: MemberIdsArgs, action: str, check: Callable[[dict[str, Any] | None],
                        str | None], period_of: Callable[[dict[str, Any]], str],
                        detail: Callable[[dict[str, Any]], dict[str, Any]]) -> tuple[list[PlanItem], list[dict[str, Any]]]:
    items, skipped = [], []
    for member_id in _ids(args.member_ids):
        member = await guards.load_member(ctx.db, member_id)
        label = f"{member['first_name']} {member['last_name']}" if member else f"#{member_id}"
        if reason := check(member):
            skipped.append({"id": member_id, "name": label, "reason": reason})
            continue
        assert member is not None
        key = effect_key(ctx, action, f"member-{member_id}", period_of(member))
        items.append(PlanItem(member_id, label, key, detail(member)))
    return items, skipped


# --- door access -------------------------------------------------------------


class DoorArgs(MemberIdsArgs):
    reason: str = Field("past due", max_length=200, description="Why, for the door log.")


def _door_detail(ctx: ToolContext, member: dict[str, Any]) -> dict[str, Any]:
    return {"balance": dollars(member["balance_cents"]), "door": "main entrance",
            "days_past_due": guards.days_between(member["past_due_since"], ctx.today())}


async def _door_act(ctx: ToolContext, tx: Transaction, item: PlanItem, action: str, state: str, reason: str) -> dict[str, Any]:
    await tx.execute("UPDATE door_credentials SET access_state = ?, changed_at = ?, reason = ? WHERE member_id = ?",
                     [state, ctx.now_iso(), reason, item.target_id])
    await tx.insert("INSERT INTO door_changes (effect_key, member_id, action, reason, changed_at, run_id) "
                    "VALUES (?, ?, ?, ?, ?, ?)", [item.key, item.target_id, action, reason, ctx.now_iso(), ctx.run_id])
    return {"door": state}


async def plan_suspend(ctx: ToolContext, args: DoorArgs) -> ActionPlan:
    items, skipped = await _plan_members(ctx, args, "suspend_door_access", lambda m: guards.check_suspend(ctx, m),
                                         lambda m: m["past_due_since"], lambda m: _door_detail(ctx, m))
    return _plan(ctx, "suspend_door_access", "Suspend door access", "high", args, items, skipped)


async def execute_suspend(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    async def check(tx: Transaction, item: PlanItem) -> str | None:
        return guards.check_suspend(ctx, await guards.load_member(tx, item.target_id))

    reason = plan.args.get("reason") or "past due"
    return await run_items(ctx, plan, check, lambda tx, item: _door_act(ctx, tx, item, "suspend", "suspended", reason))


async def plan_restore(ctx: ToolContext, args: DoorArgs) -> ActionPlan:
    items, skipped = await _plan_members(ctx, args, "restore_door_access", guards.check_restore,
                                         lambda m: m["door_changed_at"] or "", lambda m: _door_detail(ctx, m))
    return _plan(ctx, "restore_door_access", "Restore door access", "high", args, items, skipped)


async def execute_restore(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    async def check(tx: Transaction, item: PlanItem) -> str | None:
        return guards.check_restore(await guards.load_member(tx, item.target_id))

    reason = plan.args.get("reason") or "paid"
    return await run_items(ctx, plan, check, lambda tx, item: _door_act(ctx, tx, item, "restore", "active", reason))


# --- collections -------------------------------------------------------------


async def plan_escalate(ctx: ToolContext, args: MemberIdsArgs) -> ActionPlan:
    items, skipped = [], []
    for member_id in _ids(args.member_ids):
        member = await guards.load_member(ctx.db, member_id)
        label = f"{member['first_name']} {member['last_name']}" if member else f"#{member_id}"
        if reason := await guards.check_escalate(ctx, ctx.db, member):
            skipped.append({"id": member_id, "name": label, "reason": reason})
            continue
        assert member is not None
        key = effect_key(ctx, "escalate_to_collections", f"member-{member_id}", member["past_due_since"])
        items.append(PlanItem(member_id, label, key, _door_detail(ctx, member)))
    return _plan(ctx, "escalate_to_collections", "Hand over to collections", "high", args, items, skipped)


async def execute_escalate(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    async def check(tx: Transaction, item: PlanItem) -> str | None:
        return await guards.check_escalate(ctx, tx, await guards.load_member(tx, item.target_id))

    async def act(tx: Transaction, item: PlanItem) -> dict[str, Any]:
        member = await guards.load_member(tx, item.target_id)
        assert member is not None
        days = guards.days_between(member["past_due_since"], ctx.today())
        await tx.insert("INSERT INTO collections (effect_key, member_id, amount_cents, days_past_due, escalated_at, run_id) "
                        "VALUES (?, ?, ?, ?, ?, ?)", [item.key, item.target_id, member["balance_cents"], days,
                                                      ctx.now_iso(), ctx.run_id])
        return {"amount": dollars(member["balance_cents"]), "days_past_due": days}

    return await run_items(ctx, plan, check, act)


# --- messages ----------------------------------------------------------------


class CampaignArgs(ToolArgs):
    audience: Literal["prospects", "green_members", "ppv_members"] = Field(description="Who receives it.")
    stage: Literal["new", "contacted", "toured", "trial"] | None = Field(None, description="Prospects only: this stage.")
    channel: Literal["email", "sms"] = Field("email", description="How it is sent.")
    subject: str = Field("", max_length=120, description="Email subject.")
    template: str = Field(min_length=1, max_length=1000,
                          description="Message text; may use {first_name}, {last_name}, {gym_name}.")
    max_recipients: int = Field(50, ge=1, le=1000, description="Most people to send to in this call.")


async def plan_campaign(ctx: ToolContext, args: CampaignArgs) -> ActionPlan:
    t = ctx.config.thresholds
    skipped: list[dict[str, Any]] = []
    if guards.in_quiet_hours(ctx):
        skipped.append({"reason": f"quiet hours ({ctx.config.safety.quiet_hours_start}:00-"
                                  f"{ctx.config.safety.quiet_hours_end}:00): nothing is sent now"})
        return _plan(ctx, "send_campaign", "Send campaign", "moderate", args, [], skipped)
    remaining = max(0, t.campaign_daily_limit - await guards.campaign_sends_today(ctx, ctx.db))
    wanted = min(args.max_recipients, remaining)
    if wanted < args.max_recipients:
        skipped.append({"reason": f"daily limit of {t.campaign_daily_limit} sends: {remaining} left today"})
    address = "email" if args.channel == "email" else "phone"
    if args.audience == "prospects":
        where, params = ["stage IN ('new','contacted','toured','trial')", "opted_out = 0",
                         "(last_contacted IS NULL OR last_contacted < ?)", f"{address} IS NOT NULL"], \
            [ctx.days_ago_iso(t.prospect_cooldown_days)]
        if args.stage:
            where.append("stage = ?")
            params.append(args.stage)
        rows = await ctx.db.fetch_all(
            f"SELECT id, first_name, last_name, {address} AS address FROM prospects WHERE {' AND '.join(where)} "
            "ORDER BY last_contacted IS NOT NULL, last_contacted, id LIMIT ?", [*params, wanted])
        kind = "prospect"
    else:
        extra = "standing = 'green'" if args.audience == "green_members" else "membership_type = 'pay_per_visit'"
        rows = await ctx.db.fetch_all(
            f"SELECT m.id, m.first_name, m.last_name, m.{address} AS address FROM members m WHERE m.status = 'active' "
            f"AND m.opted_out = 0 AND {extra} AND m.{address} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM outbox o "
            "WHERE o.person_kind = 'member' AND o.person_id = m.id AND o.kind = 'campaign' AND o.created_at >= ?) "
            "ORDER BY m.id LIMIT ?", [ctx.days_ago_iso(t.prospect_cooldown_days), wanted])
        kind = "member"
    items = [
        PlanItem(row["id"], f"{row['first_name']} {row['last_name']}",
                 effect_key(ctx, "send_campaign", f"{kind}-{row['id']}", ctx.today()),
                 {"person_kind": kind, "to": row["address"], "channel": args.channel})
        for row in rows
    ]
    sample_text = render(args.template, rows[0]) if rows else render(args.template, {"first_name": "Alex"})
    message = {"channel": args.channel, "subject": args.subject, "template": args.template, "sample": sample_text}
    return _plan(ctx, "send_campaign", f"Send {args.channel} campaign to {args.audience.replace('_', ' ')}",
                 "moderate", args, items, skipped, message)


async def _person(tx: Transaction, kind: str, person_id: int) -> dict[str, Any] | None:
    table = "prospects" if kind == "prospect" else "members"
    return await tx.fetch_one(f"SELECT * FROM {table} WHERE id = ?", [person_id])


async def execute_campaign(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    limit = ctx.config.thresholds.campaign_daily_limit

    async def check(tx: Transaction, item: PlanItem) -> str | None:
        if guards.in_quiet_hours(ctx):
            return "quiet hours"
        if await guards.campaign_sends_today(ctx, tx) >= limit:
            return f"daily limit of {limit} reached"
        person = await _person(tx, item.detail["person_kind"], item.target_id)
        if item.detail["person_kind"] == "prospect":
            return await guards.check_prospect(ctx, tx, person)
        return guards.check_marketing_member(ctx, person)

    async def act(tx: Transaction, item: PlanItem) -> dict[str, Any]:
        person = await _person(tx, item.detail["person_kind"], item.target_id)
        assert person is not None
        await _queue_message(ctx, tx, item, "campaign", item.detail["person_kind"], plan.args["channel"],
                             item.detail["to"], plan.args.get("subject", ""), render(plan.args["template"], person))
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


NOTICE_TEMPLATES = {
    "reminder": "Hi {first_name}, a friendly reminder that your account at {gym_name} has {amount_due} past due. "
                "Please pay at the front desk or online.",
    "final_notice": "Hi {first_name}, this is a final notice: {amount_due} is past due on your account at {gym_name}. "
                    "Without payment, door access will be paused and the account may go to collections.",
}


class NotifyArgs(MemberIdsArgs):
    kind: Literal["reminder", "final_notice"] = Field("reminder", description="Friendly reminder or final notice.")
    channel: Literal["email", "sms"] = Field("email", description="How it is sent.")


async def plan_notify(ctx: ToolContext, args: NotifyArgs) -> ActionPlan:
    if guards.in_quiet_hours(ctx):
        return _plan(ctx, "notify_past_due_member", "Send past-due notice", "moderate", args, [],
                     [{"reason": "quiet hours: nothing is sent now"}])
    address = "email" if args.channel == "email" else "phone"

    def check(member: dict[str, Any] | None) -> str | None:
        if member is not None and not member[address]:
            return f"no {address} on file"
        return guards.check_notify(ctx, member, args.kind)

    def period(member: dict[str, Any]) -> str:
        if args.kind == "final_notice":
            return member["past_due_since"]
        year, week, _ = ctx.local_now().isocalendar()
        return f"{year}-W{week:02d}"

    def detail(member: dict[str, Any]) -> dict[str, Any]:
        return {"balance": dollars(member["balance_cents"]), "to": member[address],
                "days_past_due": guards.days_between(member["past_due_since"], ctx.today())}

    items, skipped = await _plan_members(ctx, args, f"notify_{args.kind}", check, period, detail)
    first = await guards.load_member(ctx.db, items[0].target_id) if items else {"first_name": "Alex", "balance_cents": 0}
    message = {"channel": args.channel, "subject": "Your account is past due", "template": NOTICE_TEMPLATES[args.kind],
               "sample": render(NOTICE_TEMPLATES[args.kind], first or {})}
    label = "final notice" if args.kind == "final_notice" else "past-due reminder"
    return _plan(ctx, "notify_past_due_member", f"Send {label}", "moderate", args, items, skipped, message)


async def execute_notify(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    kind = plan.args["kind"]

    async def check(tx: Transaction, item: PlanItem) -> str | None:
        if guards.in_quiet_hours(ctx):
            return "quiet hours"
        return guards.check_notify(ctx, await guards.load_member(tx, item.target_id), kind)

    async def act(tx: Transaction, item: PlanItem) -> dict[str, Any]:
        member = await guards.load_member(tx, item.target_id)
        assert member is not None
        await _queue_message(ctx, tx, item, kind, "member", plan.args["channel"], item.detail["to"],
                             plan.message["subject"] if plan.message else "", render(NOTICE_TEMPLATES[kind], member))
        return {"queued": kind}

    return await run_items(ctx, plan, check, act)


# --- referrals and invoices --------------------------------------------------


class RewardArgs(ToolArgs):
    referral_ids: list[int] = Field(min_length=1, max_length=200, description="IDs of referrals that joined.")


async def _referral(ctx: ToolContext, tx: Transaction, referral_id: int) -> tuple[dict[str, Any] | None, str | None]:
    row = await tx.fetch_one(
        "SELECT r.*, m.first_name, m.last_name, m.status AS member_status FROM referrals r "
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
    return row, None


async def plan_reward(ctx: ToolContext, args: RewardArgs) -> ActionPlan:
    amount = ctx.config.thresholds.referral_reward_amount
    items, skipped = [], []
    for referral_id in _ids(args.referral_ids):
        row, reason = await _referral(ctx, ctx.db, referral_id)
        label = f"{row['first_name']} {row['last_name']}" if row else f"referral #{referral_id}"
        if reason:
            skipped.append({"id": referral_id, "name": label, "reason": reason})
            continue
        assert row is not None
        items.append(PlanItem(referral_id, label, effect_key(ctx, "issue_referral_reward", f"referral-{referral_id}", "once"),
                              {"member_id": row["referrer_id"], "amount": amount, "referred": row["referred_name"]}))
    return _plan(ctx, "issue_referral_reward", f"Credit ${amount:.2f} referral reward", "moderate", args, items, skipped)


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


class FlagArgs(ToolArgs):
    invoice_id: int = Field(ge=1, description="The invoice to flag for the manager.")
    reason: Literal["duplicate", "large_amount", "zero_or_negative", "open_overdue", "other"] = Field(
        description="Why it needs a look.")
    note: str = Field("", max_length=300, description="A short note for the manager.")

    @field_validator("note")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(value.split())


async def plan_flag(ctx: ToolContext, args: FlagArgs) -> ActionPlan:
    row = await ctx.db.fetch_one(
        "SELECT i.id, i.amount_cents, i.status, m.first_name, m.last_name FROM invoices i "
        "JOIN members m ON m.id = i.member_id WHERE i.id = ?", [args.invoice_id])
    if row is None:
        return _plan(ctx, "flag_invoice", "Flag invoice", "moderate", args, [],
                     [{"id": args.invoice_id, "reason": "no such invoice"}])
    item = PlanItem(args.invoice_id, f"invoice #{args.invoice_id} ({row['first_name']} {row['last_name']})",
                    effect_key(ctx, "flag_invoice", f"invoice-{args.invoice_id}", args.reason),
                    {"amount": dollars(row["amount_cents"]), "status": row["status"], "reason": args.reason})
    return _plan(ctx, "flag_invoice", "Flag invoice for review", "moderate", args, [item], [])


async def execute_flag(ctx: ToolContext, plan: ActionPlan) -> dict[str, Any]:
    async def check(tx: Transaction, item: PlanItem) -> str | None:
        exists = await tx.fetch_value("SELECT 1 FROM invoices WHERE id = ?", [item.target_id])
        return None if exists else "no such invoice"

    async def act(tx: Transaction, item: PlanItem) -> dict[str, Any]:
        reason = f"{plan.args['reason']}: {plan.args.get('note', '')}".strip(": ")
        await tx.insert("INSERT INTO flags (effect_key, kind, subject_kind, subject_id, reason, created_at, run_id) "
                        "VALUES (?, 'invoice_review', 'invoice', ?, ?, ?, ?)",
                        [item.key, item.target_id, reason, ctx.now_iso(), ctx.run_id])
        return {"flagged": plan.args["reason"]}

    return await run_items(ctx, plan, check, act)


ACT_TOOLS: list[Tool] = [
    Tool("send_campaign", "Queue a marketing message to prospects or members. The console enforces the daily limit, "
         "cooldown, opt-outs and quiet hours and reports who was skipped and why. Sends to many people need a "
         "person's approval.", CampaignArgs, "moderate", "act", plan=plan_campaign, execute=execute_campaign),
    Tool("notify_past_due_member", "Queue a past-due reminder or final notice (fixed text) to members. Members not "
         "past due, opted out, frozen or cancelled are skipped.", NotifyArgs, "moderate", "act",
         plan=plan_notify, execute=execute_notify),
    Tool("escalate_to_collections", "Hand past-due accounts to the collections agency. Only accounts past the "
         "escalation threshold with a final notice sent are accepted; a person must approve.", MemberIdsArgs, "high",
         "act", plan=plan_escalate, execute=execute_escalate),
    Tool("issue_referral_reward", "Credit the referral reward to members whose referral joined within the window.",
         RewardArgs, "moderate", "act", plan=plan_reward, execute=execute_reward),
    Tool("flag_invoice", "Flag an invoice for the manager's review (duplicate, unusual amount, overdue).", FlagArgs,
         "moderate", "act", plan=plan_flag, execute=execute_flag),
    Tool("suspend_door_access", "Suspend members' door access for non-payment. Only members past the suspension "
         "thresholds are accepted; a person must approve.", DoorArgs, "high", "act",
         plan=plan_suspend, execute=execute_suspend),
    Tool("restore_door_access", "Restore door access of suspended members who have paid in full; a person must "
         "approve.", DoorArgs, "high", "act", plan=plan_restore, execute=execute_restore),
]
