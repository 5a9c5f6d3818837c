"""The approval gate: policies per risk, asking a person, timeouts to pending, deciding later, the audit log."""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import json
import subprocess
import sys
from typing import Any

import pytest
from helpers_safety import Recorder, with_safety

from gymconsole.db import Database
from gymconsole.engine.events import EventBus
from gymconsole.engine.gate import ApprovalError, ApprovalGate, ApprovalRequest
from gymconsole.plan_text import describe_plan, request_lines
from gymconsole.engine.history import RunRecorder
from gymconsole.tools.base import ToolContext
from gymconsole.tools.registry import REGISTRY, Decision, call_tool

SUSPEND = [1, 2, 350, 357, 362]
"""Demo members due a suspension (the injection and markup rows among them)."""


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Env:
    """A gate over the demo database with its events recorded and a real run row to hang things on."""

    def __init__(self, db: Database, config: Any, clock: Any) -> None:
        self.db, self.config, self.clock = db, config, clock
        self.seen = Recorder()
        self.bus = EventBus([self.seen])
        self.bus.subscribe(RunRecorder(db, clock))
        self.gate = ApprovalGate(db=db, config=config, clock=clock, bus=self.bus)
        self.run_id = 0

    async def start(self, workflow: str = "door_access", dry_run: bool = False) -> ToolContext:
        self.run_id = await RunRecorder(self.db, self.clock).start_run(workflow, "manual", "offline", dry_run)
        return ToolContext(self.db, self.config, self.clock, workflow, self.run_id, dry_run)

    async def call(self, ctx: ToolContext, name: str, args: dict[str, Any]) -> Any:
        return await call_tool(ctx, name, args, None, self.gate.approve)

    async def audit(self) -> list[dict[str, Any]]:
        return await self.db.fetch_all("SELECT * FROM audit_log ORDER BY id")

    async def approvals(self) -> list[dict[str, Any]]:
        return await self.db.fetch_all("SELECT * FROM approvals ORDER BY id")

    async def door(self, member_id: int) -> str:
        return await self.db.fetch_value("SELECT access_state FROM door_credentials WHERE member_id = ?", [member_id])


@pytest.fixture
async def env(demo_db: Database, config: Any, clock: Any) -> Env:
    return Env(demo_db, config, clock)


def answering(status: str, **kw: Any) -> Any:
    asked: list[ApprovalRequest] = []

    async def asker(request: ApprovalRequest) -> Decision:
        asked.append(request)
        keys = kw.pop("keys_from", None)
        if keys is not None:
            kw["approved_keys"] = frozenset(item.key for item in request.plan.items if item.target_id in keys)
        return Decision(status, kw.get("via", "tui"), kw.get("actor", "manager"), kw.get("reason", ""),
                        kw.get("approved_keys"))

    asker.asked = asked  # type: ignore[attr-defined]
    return asker


async def never_answers(request: ApprovalRequest) -> Decision:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


# --- policy per risk --------------------------------------------------------------------------------


@pytest.mark.parametrize("risk", ["safe", "moderate", "high"])
@pytest.mark.parametrize("policy", ["auto", "ask", "deny"])
async def test_policy_per_risk_level(env: Env, risk: str, policy: str) -> None:
    env.gate.config = with_safety(env.config, policy={risk: policy})
    ctx = await env.start("invoice_review")
    plan = await REGISTRY["flag_invoice"].plan(ctx, REGISTRY["flag_invoice"].parse_args(
        {"invoices": [{"invoice_id": 1, "reason": "other"}]}))
    plan = dataclasses.replace(plan, risk=risk)
    env.gate.asker = answering("approved", via="tui", actor="dana")

    decision = await env.gate.approve(ctx, plan)

    expected = {"auto": ("approved", "policy"), "ask": ("approved", "tui"), "deny": ("denied", "policy")}[policy]
    assert (decision.status, decision.via) == expected
    assert len(env.gate.asker.asked) == (1 if policy == "ask" else 0)  # type: ignore[attr-defined]
    audit = await env.audit()
    assert [(a["decision"], a["via"], a["risk"], a["tool"]) for a in audit] == [(*expected, risk, "flag_invoice")]
    assert audit[0]["actor"] == ("dana" if policy == "ask" else user())
    assert audit[0]["run_id"] == env.run_id and audit[0]["at"] == "2026-11-02T15:00:00"
    kinds = env.seen.kinds()
    assert kinds == (["approval_requested", "approval_decided"] if policy == "ask" else ["approval_decided"])
    assert len(await env.approvals()) == (1 if policy == "ask" else 0)
    stored = await env.db.fetch_all("SELECT kind FROM run_events WHERE run_id = ? ORDER BY seq", [env.run_id])
    assert [row["kind"] for row in stored] == kinds  # the run's history shows every decision


async def test_default_policy_asks_for_high_risk_only(env: Env) -> None:
    assert env.config.safety.policy == {"safe": "auto", "moderate": "auto", "high": "ask"}
    ctx = await env.start()
    outcome = await env.call(ctx, "suspend_door_access", {"member_ids": [2]})
    assert outcome.decision.status == "timed_out"  # nobody watching
    assert await env.door(2) == "active"


async def test_denied_by_policy_tells_the_model_why_and_changes_nothing(env: Env) -> None:
    env.gate.config = with_safety(env.config, policy={"high": "deny"})
    ctx = await env.start()
    outcome = await env.call(ctx, "suspend_door_access", {"member_ids": SUSPEND})
    assert outcome.result["not_done"] == "denied"
    assert "safety.policy.high is 'deny'" in outcome.result["reason"]
    assert all([await env.door(m) == "active" for m in SUSPEND])


# --- asking a person --------------------------------------------------------------------------------


async def test_request_carries_exactly_what_will_happen(env: Env) -> None:
    env.gate.asker = answering("denied", reason="not today")
    ctx = await env.start()
    await env.call(ctx, "suspend_door_access", {"member_ids": [*SUSPEND, 4, 10]})
    request: ApprovalRequest = env.gate.asker.asked[0]  # type: ignore[attr-defined]
    assert request.tool == "suspend_door_access" and request.risk == "high" and request.run_id == env.run_id
    assert request.timeout_seconds == env.config.safety.approval_timeout_seconds
    assert [item.target_id for item in request.plan.items] == SUSPEND
    first = request.plan.items[0]
    assert first.label == "Siobhan O'Brien [/vip]"
    assert first.detail["balance"] == 2480.0 and first.detail["days_past_due"] == 75
    assert first.detail["doors"] == "all entrances" and first.detail["door_after"] == "suspended"
    assert {s["id"]: s["reason"] for s in request.plan.skipped} == {4: "not past due", 10: "member is frozen"}
    text = "\n".join(request_lines(request))
    assert "Suspend door access · risk high · 5 targets" in text
    assert "Siobhan O'Brien [/vip] (#1): balance $2,480.00, 75 days past due" in text
    assert "not included: 2" in text
    requested = next(e for e in env.seen.events if e.kind == "approval_requested")
    assert requested.plan["item_count"] == 5 and requested.approval_id == request.approval_id


async def test_bulk_message_request_lists_count_sample_and_text_as_sent(env: Env) -> None:
    env.gate.asker = answering("denied", reason="too many")
    ctx = await env.start("daily_campaigns")
    outcome = await env.call(ctx, "send_campaign", {"audience": "prospects", "template": "Hi {first_name}, come by!",
                                                    "subject": "Visit us", "max_recipients": 40})
    assert outcome.plan.risk == "high"  # 40 >= bulk_threshold 10
    request = env.gate.asker.asked[0]  # type: ignore[attr-defined]
    assert len(request.plan.items) == 40
    lines = request_lines(request)
    assert lines[1].startswith("Send email campaign to prospects · risk high · 40 targets (40 messages)")
    assert "  ... and 30 more" in lines
    first = request.plan.items[0]
    assert first.detail["text"] == f"Hi {first.label.split()[0]}, come by!\n\nThe front desk, the gym"  # the footer
    assert f"    {first.detail['text']}" in lines
    assert outcome.result == {"not_done": "denied", "reason": "too many", "would_have_affected": 40}
    assert await env.db.fetch_value("SELECT COUNT(*) FROM outbox WHERE kind = 'campaign'") == 0


async def test_person_approves(env: Env) -> None:
    env.gate.asker = answering("approved", via="tui", actor="dana")
    ctx = await env.start()
    outcome = await env.call(ctx, "suspend_door_access", {"member_ids": [2, 350]})
    assert outcome.result["done_count"] == 2
    assert [await env.door(2), await env.door(350)] == ["suspended", "suspended"]
    row = (await env.approvals())[0]
    assert (row["status"], row["decided_by"], row["decided_via"]) == ("approved", "dana", "tui")
    assert [(a["decision"], a["actor"], a["via"], a["approval_id"]) for a in await env.audit()] == \
        [("approved", "dana", "tui", row["id"])]


async def test_denial_reason_goes_back_to_the_model(env: Env) -> None:
    env.gate.asker = answering("denied", reason="Ann paid cash this morning, it is not entered yet")
    ctx = await env.start()
    outcome = await env.call(ctx, "suspend_door_access", {"member_ids": [2]})
    assert outcome.result["not_done"] == "denied"
    assert outcome.result["reason"] == "Ann paid cash this morning, it is not entered yet"
    assert "Ann paid cash" in outcome.content()
    assert await env.door(2) == "active"
    assert (await env.approvals())[0]["status"] == "denied"
    audit = await env.audit()
    assert audit[0]["decision"] == "denied" and "Ann paid cash" in audit[0]["detail"]


async def test_partial_approval_does_only_the_chosen_part(env: Env) -> None:
    env.gate.asker = answering("partial", keys_from={2, 362})
    ctx = await env.start()
    outcome = await env.call(ctx, "suspend_door_access", {"member_ids": SUSPEND})
    assert outcome.decision.status == "partial" and len(outcome.decision.approved_keys) == 2
    assert outcome.result["done_count"] == 2
    assert {s["id"] for s in outcome.result["skipped"] if s["reason"] == "not approved"} == {1, 350, 357}
    assert {m: await env.door(m) for m in SUSPEND} == {1: "active", 2: "suspended", 350: "active", 357: "active",
                                                       362: "suspended"}
    row = (await env.approvals())[0]
    assert row["status"] == "partly_approved" and len(json.loads(row["approved_keys"])) == 2
    decided = next(e for e in env.seen.events if e.kind == "approval_decided")
    assert decided.approved_count == 2


@pytest.mark.parametrize("answer", [
    Decision("approved", "tui", "dana", approved_keys=frozenset()),       # approved nothing
    Decision("partial", "tui", "dana"),                                   # partial without keys
    Decision("approved", "tui", "dana", approved_keys=frozenset({"forged:key:member-99:x"})),  # keys not in plan
])
async def test_inconsistent_answers_never_act_beyond_the_plan(env: Env, answer: Decision) -> None:
    async def asker(request: ApprovalRequest) -> Decision:
        return answer

    env.gate.asker = asker
    ctx = await env.start()
    outcome = await env.call(ctx, "suspend_door_access", {"member_ids": [2]})
    assert outcome.decision.status == "denied"
    assert await env.door(2) == "active"


# --- nobody watching ---------------------------------------------------------------------------------


async def assert_pending(env: Env, outcome: Any, reason_part: str) -> None:
    assert outcome.decision.status == "timed_out" and reason_part in outcome.decision.reason
    assert outcome.result["pending_approval_id"] == outcome.decision.approval_id
    assert "do not retry" in outcome.result["note"]
    row = (await env.approvals())[0]
    assert (row["status"], row["decided_by"], row["decided_at"]) == ("pending", None, None)
    audit = await env.audit()
    assert [(a["decision"], a["via"]) for a in audit] == [("timed_out", "timeout")]
    assert await env.door(2) == "active"
    pending = await env.gate.pending()
    assert [p["id"] for p in pending] == [row["id"]] and describe_plan(pending[0]["plan"])[0].startswith("Suspend door access")


async def test_nobody_watching_saves_the_request_as_pending(env: Env) -> None:
    ctx = await env.start()
    outcome = await env.call(ctx, "suspend_door_access", {"member_ids": [2]})
    await assert_pending(env, outcome, "nobody is watching")


async def test_no_answer_in_time_saves_the_request_as_pending(env: Env) -> None:
    env.gate.config = with_safety(env.config, approval_timeout_seconds=0.02)
    env.gate.asker = never_answers
    ctx = await env.start()
    outcome = await env.call(ctx, "suspend_door_access", {"member_ids": [2]})
    await assert_pending(env, outcome, "no answer within 0.02 s")


async def test_a_failing_asker_approves_nothing(env: Env) -> None:
    async def broken(request: ApprovalRequest) -> Decision:
        raise RuntimeError("terminal went away")

    env.gate.asker = broken
    ctx = await env.start()
    outcome = await env.call(ctx, "suspend_door_access", {"member_ids": [2]})
    await assert_pending(env, outcome, "could not ask (RuntimeError)")


async def test_a_cancelled_run_saves_its_question_as_pending(env: Env) -> None:
    env.gate.asker = never_answers
    ctx = await env.start()
    task = asyncio.ensure_future(env.call(ctx, "suspend_door_access", {"member_ids": [2]}))
    for _ in range(5000):
        if await env.approvals() or task.done():
            break
        await asyncio.sleep(0.001)
    assert not task.done(), task.result()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await env.approvals())[0]["status"] == "pending"
    assert [a["decision"] for a in await env.audit()] == ["timed_out"]


async def test_the_runner_ends_awaiting_approval(demo_db: Database, config: Any, clock: Any) -> None:
    from gymconsole.engine.runner import WorkflowRunner

    bus = EventBus()
    recorder = RunRecorder(demo_db, clock)
    bus.subscribe(recorder)
    gate = ApprovalGate(db=demo_db, config=config, clock=clock, bus=bus, asker=None)
    runner = WorkflowRunner(db=demo_db, config=config, clock=clock, bus=bus, gate=gate, recorder=recorder,
                            api_key=None, base_url=None, offline=True, dry_run=False)
    result = await runner.run("door_access")
    assert result.status == "awaiting_approval"
    pending = await gate.pending()
    assert pending and all(p["run_id"] == result.run_id for p in pending)
    assert await demo_db.fetch_value("SELECT COUNT(*) FROM door_changes WHERE run_id = ?", [result.run_id]) == 0


# --- dry run --------------------------------------------------------------------------------------


async def test_dry_run_never_asks_and_reports_from_real_data(env: Env) -> None:
    async def must_not_ask(request: ApprovalRequest) -> Decision:
        raise AssertionError("a dry run asked a person")

    env.gate.asker = must_not_ask
    ctx = await env.start(dry_run=True)
    outcome = await env.call(ctx, "suspend_door_access", {"member_ids": [*SUSPEND, 4]})
    assert outcome.decision.status == "dry_run"
    assert outcome.result["dry_run"] is True and outcome.result["would_do_count"] == 5
    assert outcome.result["would_do"][0]["name"] == "Siobhan O'Brien [/vip]"
    assert outcome.result["skipped"] == [{"id": 4, "name": 'Robert "Bobby" O\'Neil', "reason": "not past due"}]
    assert await env.approvals() == []
    assert [(a["decision"], a["via"]) for a in await env.audit()] == [("dry_run", "policy")]
    assert all([await env.door(m) == "active" for m in SUSPEND])


async def test_deny_policy_holds_in_a_dry_run(env: Env) -> None:
    env.gate.config = with_safety(env.config, policy={"high": "deny"})
    ctx = await env.start(dry_run=True)
    outcome = await env.call(ctx, "suspend_door_access", {"member_ids": [2]})
    assert outcome.decision.status == "denied"


# --- deciding later -------------------------------------------------------------------------------


async def pending_suspension(env: Env, members: list[int]) -> int:
    ctx = await env.start()
    outcome = await env.call(ctx, "suspend_door_access", {"member_ids": members})
    assert outcome.decision.status == "timed_out"
    return outcome.decision.approval_id


async def test_approve_later_carries_out_the_stored_plan_once(env: Env) -> None:
    approval_id = await pending_suspension(env, [2, 350])
    env.clock.advance(3600)
    outcome = await env.gate.decide_pending(approval_id, True, actor="dana", via="cli")
    assert outcome["status"] == "approved" and outcome["result"]["done_count"] == 2
    assert [await env.door(2), await env.door(350)] == ["suspended", "suspended"]
    row = (await env.approvals())[0]
    assert (row["status"], row["decided_by"], row["decided_via"]) == ("done", "dana", "cli")
    assert row["executed_at"] == "2026-11-02T16:00:00" and json.loads(row["result"])["done_count"] == 2
    assert [(a["decision"], a["actor"], a["via"]) for a in await env.audit()] == [
        ("timed_out", user(), "timeout"), ("approved", "dana", "cli"), ("executed", "dana", "cli")]
    changes = await env.db.fetch_all("SELECT member_id, run_id FROM door_changes WHERE run_id = ?", [env.run_id])
    assert sorted(c["member_id"] for c in changes) == [2, 350]  # attributed to the run that asked

    for approve in (True, False):
        with pytest.raises(ApprovalError, match=r"approval #\d+ was already decided: done by dana via cli"):
            await env.gate.decide_pending(approval_id, approve, actor="dana", via="cli", reason="x")
    assert await env.db.fetch_value("SELECT COUNT(*) FROM door_changes WHERE member_id IN (2, 350) "
                                    "AND action = 'suspend' AND run_id = ?", [env.run_id]) == 2


async def test_approve_later_rechecks_current_data(env: Env) -> None:
    approval_id = await pending_suspension(env, [2, 350])
    async with env.db.write() as tx:  # member 350 paid in the meantime
        await tx.execute("UPDATE members SET balance_cents = 0, past_due_since = NULL, standing = 'green' "
                         "WHERE id = 350")
    outcome = await env.gate.decide_pending(approval_id, True, actor="dana", via="cli")
    assert outcome["result"]["done_count"] == 1
    name = await env.db.fetch_value("SELECT first_name || ' ' || last_name FROM members WHERE id = 350")
    assert outcome["result"]["skipped"] == [{"id": 350, "name": name, "reason": "not past due"}]
    assert "skipped 1 (1 not past due)" in outcome["summary"]
    assert [await env.door(2), await env.door(350)] == ["suspended", "active"]


async def test_deny_later(env: Env) -> None:
    approval_id = await pending_suspension(env, [2])
    outcome = await env.gate.decide_pending(approval_id, False, actor="dana", via="cli", reason="on a payment plan")
    assert outcome == {"approval_id": approval_id, "status": "denied", "reason": "on a payment plan"}
    assert await env.door(2) == "active"
    assert await env.gate.pending() == []
    with pytest.raises(ApprovalError, match="already decided: denied by dana"):
        await env.gate.decide_pending(approval_id, True, actor="dana", via="cli")
    decided = [e for e in env.seen.events if e.kind == "approval_decided"]
    assert [(e.status, e.via, e.run_id) for e in decided] == [("timed_out", "timeout", env.run_id),
                                                               ("denied", "cli", env.run_id)]


async def test_partial_approval_later(env: Env) -> None:
    approval_id = await pending_suspension(env, [2, 350, 357])
    keys = await env.gate.keys_for(approval_id, [357])
    outcome = await env.gate.decide_pending(approval_id, True, actor="dana", via="cli", keys=keys)
    assert outcome["status"] == "partial" and outcome["result"]["done_count"] == 1
    assert {s["id"] for s in outcome["result"]["skipped"]} == {2, 350}
    assert [await env.door(m) for m in (2, 350, 357)] == ["active", "active", "suspended"]
    with pytest.raises(ApprovalError, match="does not include 999") as info:
        await env.gate.keys_for(approval_id, [999])
    assert info.value.usage


async def test_unknown_request_is_a_usage_error(env: Env) -> None:
    with pytest.raises(ApprovalError, match="no approval request #77") as info:
        await env.gate.decide_pending(77, True, actor="dana", via="cli")
    assert info.value.usage


async def test_dry_run_approval_decides_nothing(env: Env) -> None:
    approval_id = await pending_suspension(env, [2])
    outcome = await env.gate.decide_pending(approval_id, True, actor="dana", via="cli", dry_run=True)
    assert outcome["status"] == "dry_run" and outcome["result"]["would_do_count"] == 1
    assert await env.door(2) == "active"
    assert [p["status"] for p in await env.gate.pending()] == ["pending"]


async def test_interrupted_later_approval_resumes_without_repeating(env: Env) -> None:
    approval_id = await pending_suspension(env, [2, 350])
    outcome = await env.gate.decide_pending(approval_id, True, actor="dana", via="cli")
    assert outcome["result"]["done_count"] == 2
    async with env.db.write() as tx:  # as if the process died after the acts, before recording `executed`
        await tx.execute("UPDATE approvals SET status = 'carrying_out', executed_at = NULL, pid = ? WHERE id = ?", [dead_pid(), approval_id])
    assert [p["status"] for p in await env.gate.pending()] == ["interrupted"]
    with pytest.raises(ApprovalError, match="already decided: interrupted"):
        await env.gate.decide_pending(approval_id, False, actor="dana", via="cli", reason="no")
    again = await env.gate.decide_pending(approval_id, True, actor="dana", via="cli")
    assert again["result"]["done_count"] == 0  # the re-check sees both already suspended; the ledger holds too
    assert again["result"]["skipped_by_reason"] == {"already suspended": 2}
    assert (await env.approvals())[0]["status"] == "done"
    assert await env.db.fetch_value("SELECT COUNT(*) FROM door_changes WHERE run_id = ?", [env.run_id]) == 2


def dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    return int(child.stdout)


async def test_requests_of_a_dead_process_are_released(env: Env) -> None:
    env.gate.asker = never_answers
    env.gate.config = with_safety(env.config, approval_timeout_seconds=0.02)
    ctx = await env.start()
    plan = await REGISTRY["suspend_door_access"].plan(ctx, REGISTRY["suspend_door_access"].parse_args({"member_ids": [2]}))
    async with env.db.write() as tx:
        approval_id = await tx.insert(
            "INSERT INTO approvals (run_id, workflow, tool, risk, title, plan, item_count, status, requested_at, pid) "
            "VALUES (?, 'door_access', 'suspend_door_access', 'high', ?, ?, 1, 'asking', '2026-11-02T14:00:00', ?)",
            [env.run_id, plan.title, json.dumps(plan.as_dict()), dead_pid()])
    pending = await env.gate.pending()
    assert [(p["id"], p["status"]) for p in pending] == [(approval_id, "released")]
    audit = await env.audit()
    assert [(a["decision"], a["via"]) for a in audit] == [("released", "system")]
    assert "process that was asking" in audit[0]["detail"] and "ended" in audit[0]["detail"]
    outcome = await env.gate.decide_pending(approval_id, True, actor="dana", via="cli")
    assert outcome["result"]["done_count"] == 1


def test_describe_plan_of_a_stored_dict_matches_the_object(demo_path: Any) -> None:
    from gymconsole.tools.base import ActionPlan, PlanItem

    plan = ActionPlan("suspend_door_access", "Suspend door access", "high",
                      [PlanItem(7, "Ann Lee", "k", {"balance": 120.0, "days_past_due": 21, "doors": "all entrances",
                                                    "door_now": "active", "door_after": "suspended"})],
                      [{"id": 8, "name": "Bo", "reason": "not past due"}], {"member_ids": [7, 8]})
    lines = describe_plan(plan)
    assert lines == describe_plan(json.loads(json.dumps(plan.as_dict())))
    assert lines[1] == "  - Ann Lee (#7): balance $120.00, 21 days past due, doors all entrances, door active -> suspended"
    assert lines[2] == "  not included: 1 (1 not past due)"


def test_an_event_plan_describes_the_whole_count() -> None:
    from gymconsole.engine.gate import event_plan
    from gymconsole.tools.base import ActionPlan, PlanItem

    items = [PlanItem(i, f"P{i}", f"k{i}", {"to": f"p{i}@example.com", "text": f"Hi P{i}"}) for i in range(1, 31)]
    plan = ActionPlan("send_campaign", "Send email campaign to prospects", "high", items, [], {},
                      {"channel": "email", "subject": "", "template": "Hi", "count": 30, "sample": "Hi P1"})
    data = event_plan(plan)
    assert len(data["items"]) == 20 and data["item_count"] == 30
    lines = describe_plan(data, sample=5)
    assert lines[0] == "Send email campaign to prospects · risk high · 30 targets (30 messages)"
    assert "  ... and 25 more" in lines and "    Hi P1" in lines
    assert describe_plan(plan, sample=5) == lines


async def test_listing_pending_while_a_person_is_being_asked_never_drops_their_answer(env: Env) -> None:
    """pending() in the same process (the console's Pending screen) must not take an on-screen request for stale."""
    ctx = await env.start()
    listed: list[list[dict[str, Any]]] = []

    racing: list[asyncio.Task[Any]] = []

    async def asker(request: ApprovalRequest) -> Decision:
        listed.append(await env.gate.pending())  # while the modal is up
        racing.append(asyncio.create_task(env.gate.pending()))  # and as the answer is being stored
        return Decision("approved", "tui", "manager")

    env.gate.asker = asker
    lister_running = True

    async def keep_listing() -> None:  # around the insert's COMMIT and the settle, too
        while lister_running:
            await env.gate.pending()
            await asyncio.sleep(0)

    lister = asyncio.create_task(keep_listing())
    try:
        outcome = await env.call(ctx, "suspend_door_access", {"member_ids": SUSPEND[:2]})
    finally:
        lister_running = False
        await lister
        await asyncio.gather(*racing)
    assert outcome.decision is not None and outcome.decision.status == "approved", outcome.result
    assert [row["status"] for row in listed[0]] == ["asking"]
    assert [row["status"] for row in await env.approvals()] == ["approved"]
    assert [await env.door(m) for m in SUSPEND[:2]] == ["suspended", "suspended"]


async def test_an_approval_given_during_a_run_is_noted_as_carried_out(env: Env) -> None:
    ctx = await env.start()
    env.gate.asker = answering("approved")
    outcome = await call_tool(ctx, "suspend_door_access", {"member_ids": SUSPEND[:2]}, None, env.gate.approve,
                              env.gate.mark_executed)
    assert outcome.result["done_count"] == 2
    [row] = await env.approvals()
    assert row["status"] == "done" and row["executed_at"] is not None
    assert json.loads(row["result"])["done_count"] == 2
    async with env.db.write() as tx:  # the run ends
        await tx.execute("UPDATE runs SET status = 'succeeded' WHERE id = ?", [env.run_id])
    assert await env.gate.pending() == []


async def test_an_approval_whose_run_died_before_carrying_it_out_can_be_finished_later(env: Env) -> None:
    ctx = await env.start()
    env.gate.asker = answering("partial", keys_from=SUSPEND[:2])
    plan = await REGISTRY["suspend_door_access"].plan(ctx, REGISTRY["suspend_door_access"].parse_args(
        {"member_ids": SUSPEND[:3]}))
    decision = await env.gate.approve(ctx, plan)  # approved by a person ... and then the process died
    assert decision.status == "partial"
    async with env.db.write() as tx:
        await tx.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", [env.run_id])
    [listed] = await env.gate.pending()
    assert listed["id"] == decision.approval_id and listed["status"] == "interrupted"
    outcome = await env.gate.decide_pending(decision.approval_id, True, actor="manager", via="cli")
    assert outcome["result"]["done_count"] == 2  # exactly the two the person approved
    assert [await env.door(m) for m in SUSPEND[:3]] == ["suspended", "suspended", "active"]
    assert await env.gate.pending() == []
    with pytest.raises(ApprovalError, match="already decided"):
        await env.gate.decide_pending(decision.approval_id, True, actor="manager", via="cli")
