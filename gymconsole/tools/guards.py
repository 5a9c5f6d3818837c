"""Guard rails that hold whatever the model asks for.

Each check looks at one target in the *current* data and returns ``None`` when
the act is allowed or a short reason when it is not.  Acting tools run them
when planning and again, inside the write transaction, when executing, so an
approval given an hour ago cannot lock out a member who has since paid.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from gymconsole.clock import iso
from gymconsole.db import Transaction
from gymconsole.tools.base import ToolContext


def days_between(start: str | None, end: str) -> int:
    if not start:
        return 0
    return (date.fromisoformat(end[:10]) - date.fromisoformat(start[:10])).days


def in_quiet_hours(ctx: ToolContext) -> bool:
    s = ctx.config.safety
    hour = ctx.local_now().hour
    if s.quiet_hours_start == s.quiet_hours_end:
        return False
    if s.quiet_hours_start < s.quiet_hours_end:
        return s.quiet_hours_start <= hour < s.quiet_hours_end
    return hour >= s.quiet_hours_start or hour < s.quiet_hours_end


def member_state_block(member: dict[str, Any] | None) -> str | None:
    """Frozen and cancelled members are a state of their own: no acts at all."""
    if member is None:
        return "no such member"
    if member["status"] != "active":
        return f"member is {member['status']}"
    return None


async def load_member(db: Transaction, member_id: int) -> dict[str, Any] | None:
    return await db.fetch_one(
        "SELECT m.*, d.access_state, d.changed_at AS door_changed_at FROM members m "
        "LEFT JOIN door_credentials d ON d.member_id = m.id WHERE m.id = ?",
        [member_id],
    )


def check_notify(ctx: ToolContext, member: dict[str, Any] | None, kind: str) -> str | None:
    t = ctx.config.thresholds
    if reason := member_state_block(member):
        return reason
    assert member is not None
    if member["opted_out"]:
        return "opted out of messages"
    days = days_between(member["past_due_since"], ctx.today())
    if member["balance_cents"] <= 0 or not member["past_due_since"]:
        return "not past due"
    if days < t.past_due_flag_days:
        return f"only {days} days past due (flag after {t.past_due_flag_days})"
    if kind == "final_notice" and days < t.suspend_after_days:
        return f"only {days} days past due (final notice after {t.suspend_after_days})"
    return None


def check_suspend(ctx: ToolContext, member: dict[str, Any] | None) -> str | None:
    t = ctx.config.thresholds
    if reason := member_state_block(member):
        return reason
    assert member is not None
    if member["access_state"] is None:
        return "has no door credential"
    if member["access_state"] == "suspended":
        return "already suspended"
    days = days_between(member["past_due_since"], ctx.today())
    if member["balance_cents"] <= 0 or not member["past_due_since"]:
        return "not past due"
    if days < t.suspend_after_days:
        return f"only {days} days past due (suspend after {t.suspend_after_days})"
    if member["balance_cents"] < round(t.suspend_min_amount * 100):
        return f"balance ${member['balance_cents'] / 100:.2f} is under ${t.suspend_min_amount:.2f}"
    return None


def check_restore(member: dict[str, Any] | None) -> str | None:
    if reason := member_state_block(member):
        return reason
    assert member is not None
    if member["access_state"] != "suspended":
        return "door access is not suspended"
    if member["balance_cents"] > 0:
        return f"still owes ${member['balance_cents'] / 100:.2f}"
    if member["standing"] == "red":
        return "standing is red"
    return None


async def check_escalate(ctx: ToolContext, db: Transaction, member: dict[str, Any] | None) -> str | None:
    t = ctx.config.thresholds
    if reason := member_state_block(member):
        return reason
    assert member is not None
    days = days_between(member["past_due_since"], ctx.today())
    if member["balance_cents"] <= 0 or not member["past_due_since"]:
        return "not past due"
    if days < t.escalation_days:
        return f"only {days} days past due (collections after {t.escalation_days})"
    if member["balance_cents"] < round(t.escalation_min_amount * 100):
        return f"balance ${member['balance_cents'] / 100:.2f} is under ${t.escalation_min_amount:.2f}"
    if await db.fetch_value("SELECT 1 FROM collections WHERE member_id = ? AND escalated_at >= ?",
                            [member["id"], member["past_due_since"]]):
        return "already with collections"
    notice = await db.fetch_value(
        "SELECT MIN(created_at) FROM outbox WHERE person_kind = 'member' AND person_id = ? AND kind = 'final_notice' "
        "AND created_at >= ?",
        [member["id"], member["past_due_since"]],
    )
    if notice is None:
        return "no final notice sent yet"
    waited = days_between(notice, ctx.today())
    if waited < t.final_notice_wait_days:
        return f"final notice sent only {waited} days ago (wait {t.final_notice_wait_days})"
    return None


async def check_prospect(ctx: ToolContext, db: Transaction, prospect: dict[str, Any] | None) -> str | None:
    if prospect is None:
        return "no such prospect"
    if prospect["opted_out"]:
        return "opted out"
    if prospect["stage"] not in ("new", "contacted", "toured", "trial"):
        return f"stage is {prospect['stage']}"
    cooldown = ctx.days_ago_iso(ctx.config.thresholds.prospect_cooldown_days)
    if prospect["last_contacted"] and prospect["last_contacted"] >= cooldown:
        return f"contacted within the last {ctx.config.thresholds.prospect_cooldown_days} days"
    return None


def check_marketing_member(ctx: ToolContext, member: dict[str, Any] | None) -> str | None:
    if reason := member_state_block(member):
        return reason
    assert member is not None
    if member["opted_out"]:
        return "opted out"
    return None


async def campaign_sends_today(ctx: ToolContext, db: Transaction) -> int:
    day_start = ctx.local_now().replace(hour=0, minute=0, second=0, microsecond=0)
    return await db.fetch_value(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'campaign' AND created_at >= ?", [iso(day_start)]
    )
