"""Offline mode: each workflow as a fixed, deterministic playbook of the same tool calls.

With no API key (or ``--offline``) a run follows a playbook instead of Claude:
the same tools through the same :func:`~gymconsole.tools.registry.call_tool`,
the same approval gate and the same events, narrated with plain lines and
ending with a summary built from the tool results.  It is labelled as an
offline playbook everywhere and never presented as AI.

A saved question put on a schedule (``saved_NAME``) runs the read-only queries
stored with it.  Any other workflow without a playbook (one added in the
config) runs its read tools and reports what they returned.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gymconsole.engine.session import RunOutcome, RunSession, summarize
from gymconsole.tools.registry import REGISTRY, ToolOutcome
from gymconsole.present.words import plural

LABEL = "Offline playbook (no AI)"
CAMPAIGN_SUBJECT = "Your first week is on us"
CAMPAIGN_TEMPLATE = ("Hi {first_name}, this is {gym_name}. Your first week of classes is on us: reply to this "
                     "message or stop by the front desk to book a session.")
CAMPAIGN_MAX = 50
SAMPLE = 20


class PlaybookStop(Exception):
    """A read the playbook depends on failed; the run ends failed with this reason."""


class Playbook:
    """What a playbook step may do: narrate, read, act; every call goes through the session."""

    def __init__(self, session: RunSession) -> None:
        self.session = session
        self.config = session.config
        self.thresholds = session.config.thresholds
        self.errors: list[str] = []

    async def say(self, line: str) -> None:
        await self.session.say(line + "\n")

    def enabled(self, name: str) -> bool:
        return name in self.session.tools

    async def read(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """A read tool's result; None when the workflow does not enable the tool."""
        if not self.enabled(name):
            await self.say(f"{name} is not enabled for this workflow; skipped.")
            return None
        outcome = await self.session.call(name, args or {})
        if outcome.is_error:
            raise PlaybookStop(f"{name} failed: {outcome.result.get('error')}")
        return outcome.result

    async def act(self, name: str, args: dict[str, Any]) -> str:
        """Run an acting tool (through the gate) and return its one-line account."""
        outcome = await self.act_outcome(name, args)
        return summarize(outcome) if outcome is not None else "not enabled"

    async def act_outcome(self, name: str, args: dict[str, Any]) -> ToolOutcome | None:
        if not self.enabled(name):
            await self.say(f"{name} is not enabled for this workflow; skipped.")
            return None
        outcome = await self.session.call(name, args)
        if outcome.is_error:
            self.errors.append(f"{name}: {summarize(outcome)}")
        return outcome


def _ids(rows: list[dict[str, Any]], key: str = "id") -> list[int]:
    return [row[key] for row in rows]


async def daily_campaigns(p: Playbook) -> list[str]:
    await p.say("Checking the prospect pipeline, members in good standing and pay-per-visit members.")
    prospects = await p.read("get_campaign_prospects")
    green = await p.read("get_green_members")
    ppv = await p.read("get_ppv_members", {"filters": {"inactive_days": 30}})
    lines = []
    if prospects:
        lines.append(f"{prospects['active_prospects']:,} active prospects, {prospects['contactable_now']:,} "
                     "contactable now.")
    if green:
        lines.append(f"{green['count']:,} members in good standing.")
    if ppv:
        lines.append(f"{ppv['count']:,} pay-per-visit members not seen in 30 days.")
    if not prospects:
        return lines
    await p.say("Finding the stage with the most prospects ready to be contacted.")
    best, best_count = None, 0
    for stage in sorted(prospects["by_stage"], key=lambda s: (-prospects["by_stage"][s], s)):
        detail = await p.read("get_campaign_prospects", {"filters": {"stage": stage}, "limit": 1})
        if detail and detail["contactable_now"] > best_count:
            best, best_count = stage, detail["contactable_now"]
    if best is None:
        lines.append("No prospect can be contacted now; no campaign sent.")
        return lines
    await p.say(f"Sending the standard welcome campaign to up to {CAMPAIGN_MAX} '{best}' prospects.")
    result = await p.act("send_campaign", {"audience": "prospects", "stage": best, "channel": "email",
                                           "subject": CAMPAIGN_SUBJECT, "template": CAMPAIGN_TEMPLATE,
                                           "max_recipients": min(CAMPAIGN_MAX, best_count)})
    lines.append(f"Campaign to '{best}' prospects ({best_count:,} contactable): {result}.")
    return lines


async def past_due_monitoring(p: Playbook) -> list[str]:
    t = p.thresholds
    await p.say("Checking members and training clients with amounts past due.")
    members = await p.read("get_past_due_members", {"limit": SAMPLE})
    training = await p.read("get_past_due_training_clients")
    lines = []
    if members:
        lines.append(f"{members['past_due_members']:,} members past due, ${members['total_owed']:,.2f} owed.")
    if training:
        lines.append(f"{training['past_due_training_clients']:,} training clients past due, "
                     f"${training['total_past_due']:,.2f}.")
    if not members:
        return lines
    reminders = [m["id"] for m in members["sample_largest_balances"] if m["days_past_due"] < t.suspend_after_days]
    overdue = await p.read("get_past_due_members", {"filters": {"min_days": t.suspend_after_days}, "limit": SAMPLE})
    finals = _ids(overdue["sample_largest_balances"]) if overdue else []
    if reminders:
        await p.say(f"Sending friendly reminders to {len(reminders)} members {t.past_due_flag_days}+ days past due.")
        lines.append(f"Reminders: {await p.act('notify_past_due_member', {'member_ids': reminders, 'kind': 'reminder'})}.")
    if finals:
        await p.say(f"Sending final notices to {len(finals)} members {t.suspend_after_days}+ days past due.")
        result = await p.act("notify_past_due_member", {"member_ids": finals, "kind": "final_notice"})
        lines.append(f"Final notices: {result}.")
    if not reminders and not finals:
        lines.append("No notices to send.")
    return lines


async def daily_escalation(p: Playbook) -> list[str]:
    t = p.thresholds
    await p.say(f"Looking for accounts {t.escalation_days}+ days past due owing ${t.escalation_min_amount:,.2f} or more.")
    due = await p.read("get_past_due_members", {"filters": {"min_days": t.escalation_days,
                                                            "min_amount": t.escalation_min_amount}, "limit": SAMPLE})
    if not due:
        return []
    ids = _ids(due["sample_largest_balances"])
    lines = [f"{due['past_due_members']:,} accounts past the escalation threshold, ${due['total_owed']:,.2f} owed."]
    if not ids:
        return lines + ["Nobody to escalate."]
    await p.say(f"Handing {len(ids)} accounts to collections (the console checks each for a final notice).")
    lines.append(f"Collections: {await p.act('escalate_to_collections', {'member_ids': ids})}.")
    return lines


async def referral_check(p: Playbook) -> list[str]:
    await p.say("Checking referrals that joined within the reward window.")
    found = await p.read("get_referral_candidates", {"limit": SAMPLE})
    if not found:
        return []
    ids = _ids(found["sample"], "referral_id")
    lines = [f"{found['reward_due']:,} referrals due a reward of ${found['reward_amount']:,.2f}."]
    if not ids:
        return lines + ["No rewards to issue."]
    await p.say(f"Crediting rewards for {len(ids)} referrals.")
    lines.append(f"Rewards: {await p.act('issue_referral_reward', {'referral_ids': ids})}.")
    return lines


async def invoice_review(p: Playbook) -> list[str]:
    await p.say(f"Reviewing the last {p.thresholds.invoice_review_days} days of invoices.")
    review = await p.read("get_invoices_for_review", {"limit": SAMPLE})
    if not review:
        return []
    count = sum(v["count"] for v in review["by_status"].values())
    amount = sum(v["amount"] for v in review["by_status"].values())
    lines = [f"{count:,} invoices, ${amount:,.2f} in total; {len(review['findings'])} findings and "
             f"{len(review['possible_duplicates'])} possible duplicates."]
    calls = [{"invoice_id": f["invoice_id"], "reason": f["finding"],
              "note": f"{f['finding'].replace('_', ' ')}: ${f['amount']:,.2f}, {f['status']}, issued {f['issued_on']}"}
             for f in review["findings"]]
    calls += [{"invoice_id": d["invoice_ids"][-1], "reason": "duplicate",
               "note": f"same member, amount (${d['amount']:,.2f}) and date as invoice #{d['invoice_ids'][0]}"}
              for d in review["possible_duplicates"]]
    if calls:
        await p.say(f"Flagging {len(calls)} invoices for the manager.")
        lines.append(f"Flags: {await p.act('flag_invoice', {'invoices': calls[:50]})}.")
    return lines


async def door_access(p: Playbook) -> list[str]:
    await p.say("Checking door access against payments.")
    status = await p.read("get_door_access_status", {"limit": SAMPLE})
    if not status:
        return []
    suspend = _ids(status["should_suspend"]["sample"])
    restore = _ids(status["should_restore"]["sample"])
    lines = [f"{status['should_suspend']['count']:,} members should lose door access, "
             f"{status['should_restore']['count']:,} have paid and should get it back."]
    if suspend:
        await p.say(f"Suspending door access of {len(suspend)} members (a person approves).")
        lines.append(f"Suspensions: {await p.act('suspend_door_access', {'member_ids': suspend, 'reason': 'past due'})}.")
    if restore:
        await p.say(f"Restoring door access of {len(restore)} members who paid (a person approves).")
        lines.append(f"Restorations: {await p.act('restore_door_access', {'member_ids': restore, 'reason': 'paid'})}.")
    if not suspend and not restore:
        lines.append("No door changes needed.")
    return lines


async def read_only(p: Playbook) -> list[str]:
    """A workflow with no playbook: run each read tool that needs no arguments and report it."""
    await p.say("No offline playbook for this workflow: running its read tools only.")
    lines = []
    for name in p.session.tools:
        tool = REGISTRY[name]
        if tool.kind != "read":
            continue
        try:
            tool.parse_args({})
        except ValueError:
            continue  # needs arguments only a model could choose
        outcome = await p.session.call(name, {})
        lines.append(f"{name}: {summarize(outcome)}.")
        if outcome.is_error:
            p.errors.append(f"{name}: {summarize(outcome)}")
    return lines or ["No read tools to run."]


async def saved_question(p: Playbook) -> list[str] | None:
    """A scheduled saved question: its stored queries through ``query_gym`` (None: no such saved question)."""
    from gymconsole.engine.saved import SavedQuestions, workflow_name

    ctx = p.session.ctx
    saved = [row for row in await SavedQuestions(ctx.db, ctx.clock).list()
             if workflow_name(row["name"]) == p.session.workflow]
    if not saved:
        return None
    question = saved[0]  # names differing only in - and _ share a workflow: the first
    await p.say(f"Saved question {question['name']!r}: {question['question']}")
    if not question["queries"]:
        return [f"the saved question {question['name']!r} has no stored queries: answering it needs Claude."]
    lines = []
    for number, sql in enumerate(question["queries"], 1):
        outcome = await p.session.call("query_gym", {"sql": sql})
        lines.append(f"query {number}: {summarize(outcome)}.")
        if outcome.is_error:
            p.errors.append(f"query {number}: {summarize(outcome)}")
    return lines


PLAYBOOKS: dict[str, Callable[[Playbook], Awaitable[list[str]]]] = {
    "daily_campaigns": daily_campaigns,
    "past_due_monitoring": past_due_monitoring,
    "daily_escalation": daily_escalation,
    "referral_check": referral_check,
    "invoice_review": invoice_review,
    "door_access": door_access,
}


async def run_playbook(session: RunSession) -> RunOutcome:
    """Run the workflow's playbook; the summary is built from what the tools returned."""
    playbook = Playbook(session)
    await session.start_iteration()
    await playbook.say(f"{LABEL}: {session.config.workflows[session.workflow].title}.")
    steps = PLAYBOOKS.get(session.workflow)
    try:
        lines = await steps(playbook) if steps else await saved_question(playbook)
        if lines is None:
            lines = await read_only(playbook)
    except PlaybookStop as exc:
        session.last_text = f"{LABEL}: stopped."
        return RunOutcome("failed", session.last_text, str(exc))
    summary = f"{LABEL}: " + " ".join(lines)
    session.last_text = summary
    if playbook.errors:
        return RunOutcome("failed", summary, f"{plural(len(playbook.errors), 'tool call')} failed: {playbook.errors[0]}")
    return RunOutcome("succeeded", summary)
