"""Guard rails that hold whatever the model asks for.

Each check looks at one target in the *current* data and returns ``None`` when
the act is allowed or a short reason when it is not.  Acting tools run them
when planning and again, inside the write transaction, when executing, so an
approval given an hour ago cannot lock out a member who has since paid.

The rules, all from ``config.toml`` (``thresholds`` and ``safety``):

* frozen and cancelled members: no past-due notices, no lockouts, no
  collections, no marketing, no door changes at all;
* door access: suspend only members at least ``suspend_after_days`` *and*
  ``suspend_min_amount`` past due; restore only suspended members who owe
  nothing and are not in red standing;
* collections: only accounts at least ``escalation_days`` and
  ``escalation_min_amount`` past due, not already handed over, whose final
  notice went out at least ``final_notice_wait_days`` ago;
* messages: never during quiet hours, never to anyone opted out; campaigns
  keep the daily limit and the per-person cooldown;
* imported data: no act on anyone missing from the membership system's latest
  full export, and no act that depends on balances, standing or status when
  the table it reads was imported longer than ``safety.max_data_age_hours`` ago.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gymconsole.clock import iso
from gymconsole.db import Transaction
from gymconsole.present.words import money
from gymconsole.tools.base import ToolContext

PROSPECT_STAGES = ("new", "contacted", "toured", "trial")


def days_between(start: str | None, end: str) -> int:
    """Whole days from a stored date (or timestamp) to ``end`` (a date)."""
    if not start:
        return 0
    return (date.fromisoformat(end[:10]) - date.fromisoformat(start[:10])).days


def local_date(ctx: ToolContext, stored: str) -> str:
    """The gym's local date of a stored value: timestamps are UTC, plain dates are already local."""
    if len(stored) <= 10:
        return stored
    moment = datetime.fromisoformat(stored)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(ZoneInfo(ctx.config.scheduler.timezone)).date().isoformat()


def in_quiet_hours(ctx: ToolContext) -> bool:
    s = ctx.config.safety
    hour = ctx.local_now().hour
    if s.quiet_hours_start == s.quiet_hours_end:
        return False
    if s.quiet_hours_start < s.quiet_hours_end:
        return s.quiet_hours_start <= hour < s.quiet_hours_end
    return hour >= s.quiet_hours_start or hour < s.quiet_hours_end


def quiet_hours_reason(ctx: ToolContext) -> str:
    s = ctx.config.safety
    return f"quiet hours ({s.quiet_hours_start:02d}:00-{s.quiet_hours_end:02d}:00): no messages are sent now"


NOT_IN_EXPORT = "not in the latest export"

DATA_TABLES: dict[str, tuple[str, ...]] = {
    "suspend_door_access": ("members",),
    "restore_door_access": ("members",),
    "escalate_to_collections": ("members",),
    "notify_past_due_member": ("members",),
    "issue_referral_reward": ("referrals", "members"),
}
"""The imported tables whose balances, standing or status each act depends on (campaigns: by audience)."""


def data_tables(tool: str, args: dict[str, Any]) -> tuple[str, ...]:
    if tool == "send_campaign":
        return ("prospects",) if args.get("audience") == "prospects" else ("members",)
    return DATA_TABLES.get(tool, ())


async def stale_data_block(ctx: ToolContext, db: Transaction, tool: str, args: dict[str, Any]) -> str | None:
    """The refusal when the data this act depends on is older than ``safety.max_data_age_hours``."""
    from gymconsole.importer.freshness import stale_reason

    tables = data_tables(tool, args)
    if not tables:
        return None
    return await stale_reason(db, ctx.now(), ctx.config.safety.max_data_age_hours, tables)


def member_state_block(member: dict[str, Any] | None) -> str | None:
    """Frozen and cancelled members are a state of their own: no acts at all."""
    if member is None:
        return "no such member"
    if member.get("missing_since"):
        return NOT_IN_EXPORT
    if member["status"] != "active":
        return f"member is {member['status']}"
    return None


async def load_member(db: Transaction, member_id: int) -> dict[str, Any] | None:
    return await db.fetch_one(
        "SELECT m.*, d.access_state, d.changed_at AS door_changed_at, d.badge_code FROM members m "
        "LEFT JOIN door_credentials d ON d.member_id = m.id WHERE m.id = ?",
        [member_id],
    )


def _past_due(ctx: ToolContext, member: dict[str, Any]) -> tuple[int, str | None]:
    """Days past due, or a reason the member is not past due at all."""
    if member["balance_cents"] <= 0 or not member["past_due_since"]:
        return 0, "not past due"
    return days_between(member["past_due_since"], ctx.today()), None


def check_notify(ctx: ToolContext, member: dict[str, Any] | None, kind: str) -> str | None:
    """A past-due reminder or final notice to one member."""
    t = ctx.config.thresholds
    if reason := member_state_block(member):
        return reason
    assert member is not None
    if member["opted_out"]:
        return "opted out of messages"
    days, reason = _past_due(ctx, member)
    if reason:
        return reason
    if days < t.past_due_flag_days:
        return f"only {days} days past due (reminders from {t.past_due_flag_days})"
    if kind == "final_notice" and days < t.suspend_after_days:
        return f"only {days} days past due (final notice from {t.suspend_after_days})"
    return None


def check_suspend(ctx: ToolContext, member: dict[str, Any] | None) -> str | None:
    """Suspending one member's door access."""
    t = ctx.config.thresholds
    if reason := member_state_block(member):
        return reason
    assert member is not None
    if member["access_state"] is None:
        return "has no door credential"
    if member["access_state"] == "suspended":
        return "already suspended"
    days, reason = _past_due(ctx, member)
    if reason:
        return reason
    if days < t.suspend_after_days:
        return f"only {days} days past due (suspend from {t.suspend_after_days})"
    if member["balance_cents"] < round(t.suspend_min_amount * 100):
        return f"balance {money(member['balance_cents'] / 100)} is under {money(t.suspend_min_amount)}"
    return None


def check_restore(member: dict[str, Any] | None) -> str | None:
    """Restoring one member's door access: only members in good standing."""
    if reason := member_state_block(member):
        return reason
    assert member is not None
    if member["access_state"] is None:
        return "has no door credential"
    if member["access_state"] != "suspended":
        return "door access is not suspended"
    if member["balance_cents"] > 0:
        return f"still owes {money(member['balance_cents'] / 100)}"
    if member["standing"] == "red":
        return "standing is red"
    return None


async def final_notice_date(db: Transaction, member: dict[str, Any]) -> str | None:
    """When the final notice of the member's current past-due episode was queued (UTC), if it was."""
    return await db.fetch_value(
        "SELECT MIN(created_at) FROM outbox WHERE person_kind = 'member' AND person_id = ? AND kind = 'final_notice' "
        "AND status != 'failed' AND created_at >= ?",
        [member["id"], member["past_due_since"]],
    )


async def check_escalate(ctx: ToolContext, db: Transaction, member: dict[str, Any] | None) -> str | None:
    """Handing one member's account to collections."""
    t = ctx.config.thresholds
    if reason := member_state_block(member):
        return reason
    assert member is not None
    days, reason = _past_due(ctx, member)
    if reason:
        return reason
    if days < t.escalation_days:
        return f"only {days} days past due (collections from {t.escalation_days})"
    if member["balance_cents"] < round(t.escalation_min_amount * 100):
        return f"balance {money(member['balance_cents'] / 100)} is under {money(t.escalation_min_amount)}"
    if await db.fetch_value("SELECT 1 FROM collections WHERE member_id = ? AND escalated_at >= ?",
                            [member["id"], member["past_due_since"]]):
        return "already with collections"
    notice = await final_notice_date(db, member)
    if notice is None:
        return "no final notice sent yet"
    waited = days_between(local_date(ctx, notice), ctx.today())
    if waited < t.final_notice_wait_days:
        return f"final notice sent only {waited} days ago (wait {t.final_notice_wait_days})"
    return None


async def check_prospect(ctx: ToolContext, db: Transaction, prospect: dict[str, Any] | None) -> str | None:
    """A campaign message to one prospect."""
    if prospect is None:
        return "no such prospect"
    if prospect.get("missing_since"):
        return NOT_IN_EXPORT
    if prospect["opted_out"]:
        return "opted out"
    if prospect["stage"] not in PROSPECT_STAGES:
        return f"stage is {prospect['stage']}"
    days = ctx.config.thresholds.prospect_cooldown_days
    if prospect["last_contacted"] and prospect["last_contacted"] >= ctx.days_ago_iso(days):
        return f"contacted within the last {days} days"
    if await db.fetch_value(
        "SELECT 1 FROM outbox WHERE person_kind = 'prospect' AND person_id = ? AND kind = 'campaign' AND created_at >= ?",
        [prospect["id"], ctx.days_ago_iso(days)],
    ):
        return f"sent a campaign within the last {days} days"
    return None


async def check_marketing_member(ctx: ToolContext, db: Transaction, member: dict[str, Any] | None) -> str | None:
    """A campaign message to one member."""
    if reason := member_state_block(member):
        return reason
    assert member is not None
    if member["opted_out"]:
        return "opted out"
    days = ctx.config.thresholds.prospect_cooldown_days
    if await db.fetch_value(
        "SELECT 1 FROM outbox WHERE person_kind = 'member' AND person_id = ? AND kind = 'campaign' AND created_at >= ?",
        [member["id"], ctx.days_ago_iso(days)],
    ):
        return f"sent a campaign within the last {days} days"
    return None


async def campaign_sends_today(ctx: ToolContext, db: Transaction) -> int:
    """Campaign messages queued since local midnight, across all runs (the daily limit counts these)."""
    day_start = ctx.local_now().replace(hour=0, minute=0, second=0, microsecond=0)
    return await db.fetch_value(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'campaign' AND created_at >= ?", [iso(day_start)]
    )


async def messages_this_run(ctx: ToolContext, db: Transaction, kinds: tuple[str, ...]) -> int:
    """Messages of these kinds this run already queued: bulk is counted per run, so splitting a
    send into small calls does not get it past the approval threshold."""
    if ctx.run_id is None:
        return 0
    marks = ",".join("?" * len(kinds))
    return await db.fetch_value(
        f"SELECT COUNT(*) FROM outbox WHERE run_id = ? AND kind IN ({marks})", [ctx.run_id, *kinds]
    )
