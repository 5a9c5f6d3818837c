"""The manager's words for the engine's identifiers, and one way to write counts, money and schedules.

Screens and the CLI show these; raw identifiers stay in detail panes and
``--json``.  Nothing here imports Textual or Rich.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gymconsole.config import CronSchedule

STATUS_WORDS = {
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
    "awaiting_approval": "waiting for approval",
    "budget_exhausted": "stopped: budget reached",
    "interrupted": "interrupted (process ended)",
    "missed": "missed",
    "skipped": "skipped",
    "truncated": "stopped: answer cut off",
    "context_exceeded": "stopped: too much to read at once",
    "rate_limited": "stopped: the AI service was busy",
}
"""A run's status as the manager reads it."""

DECISION_WORDS = {
    "approved": "approved",
    "auto": "done automatically",
    "partial": "partly approved",
    "denied": "denied",
    "timed_out": "no answer in time",
    "dry_run": "dry run: not done",
    "pending": "waiting for a person",
}

APPROVAL_STATUS_WORDS = {
    "pending": "waiting for a person",
    "asking": "being asked right now",
    "released": "waiting for a person again",
    "interrupted": "approved, not finished",
    "decided": "decided",
}
"""An approval request's state as the manager reads it (`approvals --json` keeps the raw value)."""

MESSAGE_KIND_WORDS = {"reminder": "reminder", "final_notice": "final notice", "campaign": "campaign"}
MESSAGE_STATUS_WORDS = {"queued": "queued", "sending": "sending", "sent": "sent", "failed": "failed"}

VIA_WORDS = {"tui": "in the console", "cli": "at the terminal", "policy": "by policy", "timeout": "by timeout",
             "rule": "by a standing rule"}

TOOL_WORDS = {
    "get_campaign_prospects": "look up sales prospects",
    "get_green_members": "look up members in good standing",
    "get_ppv_members": "look up pay-per-visit members",
    "get_past_due_members": "look up past-due members",
    "get_past_due_training_clients": "look up past-due training clients",
    "get_referral_candidates": "look up referrals",
    "get_invoices_for_review": "look up invoices to review",
    "get_door_access_status": "look up door access",
    "get_member": "look up a member",
    "send_campaign": "send campaign",
    "notify_past_due_member": "send past-due notice",
    "escalate_to_collections": "hand over to collections",
    "issue_referral_reward": "credit referral reward",
    "flag_invoice": "flag invoice",
    "suspend_door_access": "suspend door access",
    "restore_door_access": "restore door access",
    "query_gym": "query the gym's data",
}

NOTICE_KIND_WORDS = {"reminder": "send past-due reminder", "final_notice": "send final notice"}

RISK_WORDS = {"safe": "safe", "moderate": "moderate", "high": "high risk"}


def _fallback(identifier: str) -> str:
    return identifier.replace("_", " ")


def status_words(status: str | None) -> str:
    return STATUS_WORDS.get(status or "", _fallback(status or ""))


def decision_words(decision: str | None) -> str:
    """``rule #3`` (an act a standing rule approved) reads ``approved by standing rule #3``."""
    if decision and decision.startswith("rule #"):
        return f"approved by standing {decision}"
    return DECISION_WORDS.get(decision or "", _fallback(decision or ""))


def approval_status_words(status: str | None) -> str:
    return APPROVAL_STATUS_WORDS.get(status or "", _fallback(status or ""))


def message_kind_words(kind: str | None) -> str:
    return MESSAGE_KIND_WORDS.get(kind or "", _fallback(kind or ""))


def message_status_words(status: str | None) -> str:
    return MESSAGE_STATUS_WORDS.get(status or "", _fallback(status or ""))


def tool_words(name: str, arguments: Any = None) -> str:
    """``notify_past_due_member`` with ``kind=final_notice`` reads ``send final notice``."""
    if name == "notify_past_due_member" and isinstance(arguments, dict):
        kind = arguments.get("kind")
        if kind in NOTICE_KIND_WORDS:
            return NOTICE_KIND_WORDS[kind]
    return TOOL_WORDS.get(name, _fallback(name))


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``1 run``, ``2 runs``, ``0 runs`` (``many`` for irregular words: ``1 copy``, ``3 copies``)."""
    return f"{count:,} {singular if count == 1 else (many or singular + 's')}"


def money(value: float | int | None) -> str:
    """Dollars the same way everywhere: ``$2,480.00`` (tiny amounts such as a run's cost: ``$0.0042``)."""
    amount = float(value or 0)
    if 0 < abs(amount) < 0.01:
        return f"${amount:,.4f}"
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


def cost(value: float | None) -> str:
    """A run's API cost: four decimals under a dollar (``$0.0421``), else cents."""
    amount = float(value or 0)
    return f"${amount:,.4f}" if 0 < amount < 1 else f"${amount:,.2f}"


_WEEKDAYS = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday", "fri": "Friday",
             "sat": "Saturday", "sun": "Sunday"}


def schedule_words(schedule: CronSchedule) -> str:
    """A cron schedule in words when it is a common shape (``daily 06:00``), else ``cron 0 6 * * 1-5``."""
    minute, hour, day, month, weekday, week = (schedule.minute, schedule.hour, schedule.day, schedule.month,
                                               schedule.day_of_week, schedule.week)
    if not minute.isdigit() or month != "*" or getattr(schedule, "second", "0") != "0":
        return "cron " + schedule.describe()
    if hour == "*" and day == weekday == week == "*":
        return f"hourly at :{int(minute):02d}"
    if not hour.isdigit():
        return "cron " + schedule.describe()
    at = f"{int(hour):02d}:{int(minute):02d}"
    if day == weekday == week == "*":
        return f"daily {at}"
    if day.isdigit() and weekday == week == "*":
        return f"monthly on day {day}, {at}"
    if day == "*" and week in ("*", "*/2"):
        names = [_WEEKDAYS.get(part.lower()) for part in weekday.split(",")]
        if all(names):
            every = "every" if week == "*" else "every other"
            return f"{every} {', '.join(n for n in names if n)} {at}"
        if weekday.lower() == "mon-fri" and week == "*":
            return f"weekdays {at}"
    return "cron " + schedule.describe()
