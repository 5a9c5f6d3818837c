"""Action plans in plain words: what a person is shown before deciding (the terminal, the console, listings).

Presentation only: the gate decides, the approval store keeps the state, this says what a plan would do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gymconsole.present.words import money

if TYPE_CHECKING:
    from gymconsole.engine.gate import ApprovalRequest
    from gymconsole.tools.base import ActionPlan

SAMPLE_LINES = 10


def _money(key: str, value: Any) -> str:
    return money(value) if key in ("balance", "amount") and isinstance(value, int | float) else str(value)


def item_line(item: dict[str, Any]) -> str:
    """``Jane Doe (#42): balance $120.00, 21 days past due, badge B-0042 active -> suspended``."""
    parts = []
    for key, value in item.items():
        if key in ("id", "name", "key", "person_kind", "text", "channel", "door_now", "door_after") or value in (None, ""):
            continue
        if key == "days_past_due":
            parts.append(f"{value} days past due")
        elif key == "to":
            parts.append(f"to {value}")
        else:
            parts.append(f"{key.replace('_', ' ')} {_money(key, value)}")
    if "door_after" in item:
        parts.append(f"door {item.get('door_now')} -> {item['door_after']}")
    kind = item.get("person_kind")
    who = f"{item['name']} ({kind + ' ' if kind else ''}#{item['id']})"
    return who + (": " + ", ".join(parts) if parts else "")


def sender_line(message: dict[str, Any]) -> str:
    """``From: Gym <desk@gym> · Reply-To: office@gym`` for an email; empty for a text message."""
    parts = [f"From: {message['from']}"] if message.get("from") else []
    if message.get("reply_to"):
        parts.append(f"Reply-To: {message['reply_to']}")
    return " · ".join(parts)


def describe_plan(plan: ActionPlan | dict[str, Any], sample: int = SAMPLE_LINES) -> list[str]:
    """A plan as text: the action, each target (a sample for bulk acts), the message as sent, what is skipped."""
    data = plan if isinstance(plan, dict) else plan.as_dict()
    items = data["items"]
    total = data.get("item_count", len(items))  # an event's plan carries a sample of the items and the count
    lines = [f"{data['action']} · risk {data['risk']} · {total} {'target' if total == 1 else 'targets'}"
             + (f" ({total} messages)" if data.get("message") else "")]
    lines += [f"  - {item_line(item)}" for item in items[:sample]]
    if total > min(sample, len(items)):
        lines.append(f"  ... and {total - min(sample, len(items))} more")
    message = data.get("message")
    if message and items:
        subject = f", subject {message['subject']!r}" if message.get("subject") else ""
        lines.append(f"  message by {message.get('channel')}{subject}, as sent to {items[0]['name']}:")
        if sender := sender_line(message):
            lines.append(f"    {sender}")
        lines.append(f"    {items[0].get('text') or message.get('sample', '')}")
    skipped = data.get("skipped") or []
    if skipped:
        reasons: dict[str, int] = {}
        for entry in skipped:
            reasons[entry.get("reason", "")] = reasons.get(entry.get("reason", ""), 0) + 1
        shown = "; ".join(f"{count} {reason}" for reason, count in list(reasons.items())[:5])
        lines.append(f"  not included: {len(skipped)} ({shown})")
    return lines


def request_lines(request: ApprovalRequest, sample: int = SAMPLE_LINES) -> list[str]:
    """A request being asked, as plain text lines (the terminal prompt)."""
    return [f"approval #{request.approval_id} · workflow {request.workflow}"
            + (f" · run #{request.run_id}" if request.run_id else ""), *describe_plan(request.plan, sample)]
