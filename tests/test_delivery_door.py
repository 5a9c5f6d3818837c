"""Door controllers: the real door tools against a controller on 127.0.0.1, and the drift check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_delivery import with_door
from servers import Answer, DoorControllerServer, closed_port

from gymconsole.delivery.door import check_door_drift
from gymconsole.tools import guards
from gymconsole.tools.base import ToolContext
from gymconsole.tools.registry import Decision, call_tool

TOKEN = "door-token-91ab"


async def _approve(ctx: ToolContext, plan: object) -> Decision:
    return Decision("approved", "cli", "test")


@pytest.fixture
def controller() -> Iterator[DoorControllerServer]:
    server = DoorControllerServer().start()
    try:
        yield server
    finally:
        server.close()


async def _suspendable(ctx: ToolContext, count: int = 1) -> list[int]:
    rows = await ctx.db.fetch_all("SELECT id FROM members WHERE past_due_since IS NOT NULL ORDER BY id")
    found = [r["id"] for r in rows if guards.check_suspend(ctx, await guards.load_member(ctx.db, r["id"])) is None]
    assert len(found) >= count, "the demo gym has members due for suspension"
    return found[:count]


async def _door(db, member_id: int) -> dict:  # type: ignore[no-untyped-def]
    return await db.fetch_one("SELECT badge_code, access_state FROM door_credentials WHERE member_id = ?", [member_id])


async def test_suspend_changes_the_stored_state_only_after_the_controller_confirms(demo_db, config, clock, controller,
                                                                                    monkeypatch) -> None:
    monkeypatch.setenv("GYMCONSOLE_DOOR_TOKEN", TOKEN)
    ctx = ToolContext(demo_db, with_door(config, kind="http", base_url=controller.url + "/api/"), clock, "door_access", 7)
    [member_id] = await _suspendable(ctx)
    badge = (await _door(demo_db, member_id))["badge_code"]
    outcome = await call_tool(ctx, "suspend_door_access", {"member_ids": [member_id]}, None, _approve)
    assert not outcome.is_error and outcome.result["done_count"] == 1
    [put] = controller.requests
    assert (put.method, put.path) == ("PUT", f"/api/credentials/{badge}")
    assert put.json == {"state": "suspended", "member_id": member_id, "reason": "past due"}
    assert put.headers["authorization"] == f"Bearer {TOKEN}" and put.headers["idempotency-key"].startswith("gymconsole-")
    assert (await _door(demo_db, member_id))["access_state"] == "suspended"
    assert controller.states == {badge: "suspended"}


@pytest.mark.parametrize(("answer", "reason"), [
    (Answer(500, {"error": "relay board offline"}), 'the door controller answered HTTP 500: {"error": "relay board offline"}'),
    (Answer(200, {"ok": True}), "the door controller answered without confirming 'suspended' (it said None)"),
    (Answer(200, {"state": "active"}, delay=1.0), "the door controller did not answer within 0.2 s"),
])
async def test_a_controller_that_does_not_confirm_fails_the_act_and_leaves_the_key_open(
        demo_db, config, clock, controller, answer, reason) -> None:
    ctx = ToolContext(demo_db, with_door(config, kind="http", base_url=controller.url, timeout_seconds=0.2), clock,
                      "door_access", 7)
    [member_id] = await _suspendable(ctx)
    controller.script(answer)
    outcome = await call_tool(ctx, "suspend_door_access", {"member_ids": [member_id]}, None, _approve)
    assert outcome.is_error
    message = outcome.result["error"]
    assert f"door change for member #{member_id} not made" in message
    assert reason in message or (answer.delay and "cannot reach the door controller: timed out" in message)
    assert (await _door(demo_db, member_id))["access_state"] == "active"
    assert await demo_db.fetch_value("SELECT COUNT(*) FROM effects WHERE target = ? AND action = 'suspend_door_access'",
                                     [f"member-{member_id}"]) == 0
    assert await demo_db.fetch_value("SELECT COUNT(*) FROM door_changes WHERE member_id = ?", [member_id]) == 0
    # the controller is back: the same act now goes through, once
    again = await call_tool(ctx, "suspend_door_access", {"member_ids": [member_id]}, None, _approve)
    assert not again.is_error and again.result["done_count"] == 1
    assert (await _door(demo_db, member_id))["access_state"] == "suspended"


async def test_an_unreachable_controller_fails_the_act(demo_db, config, clock) -> None:
    ctx = ToolContext(demo_db, with_door(config, kind="http", base_url=f"http://127.0.0.1:{closed_port()}"), clock,
                      "door_access", 7)
    [member_id] = await _suspendable(ctx)
    outcome = await call_tool(ctx, "suspend_door_access", {"member_ids": [member_id]}, None, _approve)
    assert outcome.is_error and "cannot reach the door controller: connection refused" in outcome.result["error"]
    assert (await _door(demo_db, member_id))["access_state"] == "active"


async def test_restore_goes_through_the_controller_too(demo_db, config, clock, controller) -> None:
    ctx = ToolContext(demo_db, with_door(config, kind="http", base_url=controller.url), clock, "door_access", 7)
    [member_id] = await _suspendable(ctx)
    await call_tool(ctx, "suspend_door_access", {"member_ids": [member_id]}, None, _approve)
    async with demo_db.write() as tx:  # the member pays in full
        await tx.execute("UPDATE members SET balance_cents = 0, past_due_since = NULL, standing = 'green' "
                         "WHERE id = ?", [member_id])
    outcome = await call_tool(ctx, "restore_door_access", {"member_ids": [member_id]}, None, _approve)
    assert not outcome.is_error and outcome.result["done_count"] == 1, outcome.result
    assert [r.json["state"] for r in controller.requests] == ["suspended", "active"]
    assert (await _door(demo_db, member_id))["access_state"] == "active"


async def test_without_a_controller_the_database_is_the_door_system(demo_db, config, clock) -> None:
    ctx = ToolContext(demo_db, config, clock, "door_access", 7)
    [member_id] = await _suspendable(ctx)
    outcome = await call_tool(ctx, "suspend_door_access", {"member_ids": [member_id]}, None, _approve)
    assert not outcome.is_error and (await _door(demo_db, member_id))["access_state"] == "suspended"
    assert (await check_door_drift(demo_db, config)).clean


async def test_drift_is_reported_and_nothing_is_changed(demo_db, config, controller) -> None:
    rows = await demo_db.fetch_all("SELECT badge_code, access_state FROM door_credentials ORDER BY member_id")
    controller.states = {r["badge_code"]: r["access_state"] for r in rows}
    controller.states[rows[0]["badge_code"]] = "suspended" if rows[0]["access_state"] == "active" else "active"
    del controller.states[rows[1]["badge_code"]]
    controller.states["ZZ-UNKNOWN"] = "active"
    before = await demo_db.fetch_all("SELECT * FROM door_credentials ORDER BY id")
    report = await check_door_drift(demo_db, with_door(config, kind="http", base_url=controller.url))
    assert report.checked == len(rows) and not report.clean
    assert [(d["badge"], d["database"], d["controller"]) for d in report.differences] == [
        (rows[0]["badge_code"], rows[0]["access_state"], controller.states[rows[0]["badge_code"]]),
        (rows[1]["badge_code"], rows[1]["access_state"], "missing"),
        ("ZZ-UNKNOWN", "missing", "active")]
    assert report.line().startswith(f"door drift: 3 of {len(rows)} credentials differ: ")
    assert await demo_db.fetch_all("SELECT * FROM door_credentials ORDER BY id") == before
    assert all(r.method == "GET" for r in controller.requests)
    notice = report.notice(run_id=9, workflow="door_access")
    assert (notice.level, notice.message, notice.run_id) == ("warning", report.line(), 9)


async def test_a_drift_check_against_a_broken_controller_reports_the_error(demo_db, config, controller) -> None:
    controller.script(Answer(503, {"error": "maintenance"}))
    report = await check_door_drift(demo_db, with_door(config, kind="http", base_url=controller.url))
    assert not report.clean and report.differences == []
    assert report.line() == 'door drift check failed: the door controller answered HTTP 503: {"error": "maintenance"}'


async def test_a_door_access_run_reports_drift_as_a_finding_and_changes_nothing(demo_path, config, clock,
                                                                                 controller) -> None:
    from gymconsole.engine.events import Notice
    from gymconsole.engine.services import open_services

    config = with_door(config, kind="http", base_url=controller.url)
    async with open_services(config, db_path=demo_path, clock=clock, offline=True, dry_run=True) as services:
        rows = await services.db.fetch_all("SELECT badge_code, access_state FROM door_credentials ORDER BY member_id")
        controller.states = {r["badge_code"]: r["access_state"] for r in rows}
        del controller.states[rows[0]["badge_code"]]
        result = await services.runner.run("door_access")
        events = await services.history.events(result.run_id)
    findings = [e for e in events if isinstance(e, Notice) and e.message.startswith("door drift")]
    assert len(findings) == 1 and findings[0].level == "warning"
    assert rows[0]["badge_code"] in findings[0].message
    assert all(r.method == "GET" for r in controller.requests)  # a dry run: the drift check only reads


async def test_one_refused_door_change_does_not_stop_the_others(demo_db, config, clock, controller) -> None:
    ctx = ToolContext(demo_db, with_door(config, kind="http", base_url=controller.url), clock, "door_access", 7)
    members = await _suspendable(ctx, 3)
    controller.script(Answer(200, {"state": "suspended"}), Answer(500, {"error": "relay board offline"}))
    outcome = await call_tool(ctx, "suspend_door_access", {"member_ids": members}, None, _approve)
    assert not outcome.is_error, outcome.result
    assert outcome.result["done_count"] == 2 and outcome.result["failed_count"] == 1
    [failed] = outcome.result["failed"]
    assert failed["id"] == members[1] and "HTTP 500" in failed["reason"]
    states = [(await _door(demo_db, m))["access_state"] for m in members]
    assert states == ["suspended", "active", "suspended"]
    again = await call_tool(ctx, "suspend_door_access", {"member_ids": members}, None, _approve)  # back up: the rest
    assert again.result["done_count"] == 1 and again.result["skipped_count"] == 2  # the others: already suspended
    assert (await _door(demo_db, members[1]))["access_state"] == "suspended"


async def test_a_drip_feeding_controller_fails_at_the_deadline_and_never_holds_the_write_lock(
        demo_db, config, clock, demo_path) -> None:
    """One byte every 0.1 s: a per-read timeout of 0.4 s would never fire; the total deadline does, and
    meanwhile another connection writes at once (the act holds no transaction across the network)."""
    import asyncio
    import time

    from servers import DripServer

    from gymconsole.db import Database

    drip = DripServer(interval=0.1).start()
    other = await Database.open(demo_path)
    try:
        ctx = ToolContext(demo_db, with_door(config, kind="http", base_url=drip.url, timeout_seconds=0.4), clock,
                          "door_access", 7)
        [member_id] = await _suspendable(ctx)
        started = time.monotonic()
        act = asyncio.ensure_future(call_tool(ctx, "suspend_door_access", {"member_ids": [member_id]}, None,
                                              _approve))
        while not drip.answered:
            await asyncio.sleep(0.01)
        waits = []
        while not act.done():  # another writer, all the while the controller is dripping
            before = time.monotonic()
            async with other.write() as tx:
                await tx.execute("UPDATE meta SET value = value WHERE key = 'x'")
            waits.append(time.monotonic() - before)
            await asyncio.sleep(0.02)
        outcome = await act
        took = time.monotonic() - started
    finally:
        await other.close()
        drip.close()
    assert outcome.is_error and "did not answer within 0.4 s" in outcome.result["error"], outcome.result
    assert 0 < drip.bytes_sent < 20 and took < 2.0  # stopped at the deadline, long before the answer was whole
    assert waits and max(waits) < 0.3, waits
    assert (await _door(demo_db, member_id))["access_state"] == "active"
    assert await demo_db.fetch_value("SELECT COUNT(*) FROM effects WHERE target = ? AND action = 'suspend_door_access'",
                                     [f"member-{member_id}"]) == 0


async def test_an_intent_left_by_a_dead_process_is_reconciled_once(demo_db, config, clock, controller) -> None:
    """A process claimed a door change and died mid-call: the next door act asks the controller and records
    the change it shows as made (once), or withdraws the claim of one it never made."""
    import json
    import subprocess
    import sys

    from gymconsole.tools.ledger import effect_key

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)
    ctx = ToolContext(demo_db, with_door(config, kind="http", base_url=controller.url), clock, "door_access", 7)
    made, lost, fresh = await _suspendable(ctx, 3)
    keys = {}
    for member_id in (made, lost):
        badge = (await _door(demo_db, member_id))["badge_code"]
        member = await guards.load_member(demo_db, member_id)
        keys[member_id] = effect_key("suspend_door_access", f"member-{member_id}", member["past_due_since"])
        intent = {"member_id": member_id, "badge": badge, "action": "suspend", "state": "suspended",
                  "reason": "past due", "run_id": 7}
        async with demo_db.write() as tx:
            await tx.execute("INSERT INTO effects (key, workflow, action, target, period, status, run_id, created_at, "
                             "result) VALUES (?, 'door_access', 'suspend_door_access', ?, 'p', 'pending', 7, "
                             "'2026-11-02T14:00:00', ?)", [keys[member_id], f"member-{member_id}", json.dumps(
                                 {"intent": intent, "pid": dead, "pid_started": "0:1"})])
    controller.states = {(await _door(demo_db, made))["badge_code"]: "suspended"}  # the call went through
    outcome = await call_tool(ctx, "suspend_door_access", {"member_ids": [made, lost, fresh]}, None, _approve)
    assert outcome.result["done_count"] == 2, outcome.result  # `lost` (withdrawn) and `fresh`
    assert outcome.result["skipped_count"] == 1  # `made`: reconciled as suspended, so no longer due
    assert [(await _door(demo_db, m))["access_state"] for m in (made, lost, fresh)] == ["suspended"] * 3
    assert await demo_db.fetch_value("SELECT COUNT(*) FROM door_changes WHERE member_id IN (?, ?, ?)",
                                     [made, lost, fresh]) == 3
    puts = [r for r in controller.requests if r.method == "PUT"]
    assert len(puts) == 2  # `made` was never asked again
