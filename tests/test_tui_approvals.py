"""The approval modal and the pending-approvals screen, against the real gate and the demo database."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

from helpers_tui import finished, no_cursor_blink, open_console, select_workflow, tui_config, wait_until
from textual.widgets import DataTable, Input, Static

from gymconsole.db import open_database
from gymconsole.engine.events import EventBus
from gymconsole.engine.gate import ApprovalGate
from gymconsole.engine.history import RunRecorder
from gymconsole.tools.base import ToolContext
from gymconsole.tools.registry import Decision, call_tool
from gymconsole.tui.screens.approval import ApprovalModal
from gymconsole.tui.screens.pending import PendingScreen
from gymconsole.tui.state import load_state
from gymconsole.tui.widgets.plan_view import PlanItems

__all__ = ["no_cursor_blink"]


async def _door_changes(path: Any, run_id: int) -> dict[int, str]:
    async with open_database(path) as db:
        rows = await db.fetch_all("SELECT member_id, action FROM door_changes WHERE run_id = ?", [run_id])
    return {row["member_id"]: row["action"] for row in rows}


async def _audit(path: Any) -> list[dict[str, Any]]:
    async with open_database(path) as db:
        return await db.fetch_all("SELECT decision, actor, via, detail FROM audit_log ORDER BY id")


async def _ask_door_access(pilot: Any) -> ApprovalModal:
    app = pilot.app
    select_workflow(app, "door_access")
    await pilot.press("r")
    await wait_until(pilot, lambda: isinstance(app.screen, ApprovalModal), what="the approval modal")
    return app.screen


async def _deny_the_rest(pilot: Any, first: ApprovalModal, workflow: str) -> int:
    """Answer any later request of the run (door access also asks to restore) with a denial; the run id."""
    app = pilot.app

    def settled() -> bool:
        return any(t.workflow == workflow and t.finished for t in app.traces.values()) or (
            isinstance(app.screen, ApprovalModal) and app.screen is not first)

    while True:
        await wait_until(pilot, settled, what=f"{workflow} to finish or ask again")
        if not isinstance(app.screen, ApprovalModal):
            return await finished(pilot, workflow)
        first = app.screen
        await pilot.press("n", "enter")



async def _open_pending(pilot: Any) -> tuple[PendingScreen, DataTable[Any]]:
    """The manager presses ``a``: the pending list and its table."""
    await pilot.press("a")
    screen = pilot.app.screen
    assert isinstance(screen, PendingScreen)
    return screen, screen.query_one("#pending-table", DataTable)

async def test_approve_in_the_modal_suspends_exactly_the_planned_members(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        modal = await _ask_door_access(pilot)
        planned = {item.target_id for item in modal.plan.items}
        assert modal.plan.tool == "suspend_door_access" and planned
        labels = [str(option.prompt) for option in modal.query_one(PlanItems).options]
        # Hostile names from the demo data are shown as written, never run as markup.
        assert any("[@click=app.quit]" in label for label in labels)
        assert any("O'Brien [/vip]" in label for label in labels)
        await pilot.press("y")
        run_id = await _deny_the_rest(pilot, modal, "door_access")
        assert pilot.app.traces[run_id].status == "succeeded"
    changes = await _door_changes(demo_path, run_id)
    assert set(changes) == planned and set(changes.values()) == {"suspend"}
    decisions = [row for row in await _audit(demo_path) if row["via"] == "tui"]
    assert {"decision": "approved", "actor": "tester", "via": "tui"}.items() <= decisions[0].items()


async def test_deny_with_a_reason_changes_nothing(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        modal = await _ask_door_access(pilot)
        await pilot.press("n")
        assert modal.query_one("#deny-reason", Input).has_focus
        await pilot.press(*"call them first", "enter")
        run_id = await _deny_the_rest(pilot, modal, "door_access")
    assert await _door_changes(demo_path, run_id) == {}
    first = [row for row in await _audit(demo_path) if row["via"] == "tui"][0]
    assert first["decision"] == "denied" and "call them first" in first["detail"]


async def test_untick_a_row_then_approve_the_rest(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        modal = await _ask_door_access(pilot)
        items = modal.plan.items
        assert len(items) > 1
        await pilot.press("space")  # the first row is highlighted: untick it
        await pilot.press("y")
        run_id = await _deny_the_rest(pilot, modal, "door_access")
    changes = await _door_changes(demo_path, run_id)
    assert items[0].target_id not in changes
    assert set(changes) == {item.target_id for item in items[1:]}
    assert [row for row in await _audit(demo_path) if row["via"] == "tui"][0]["decision"] == "partial"


async def test_a_request_from_a_scheduled_run_rings_and_queues(config, demo_path, clock, monkeypatch) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        rings: list[int] = []
        monkeypatch.setattr(app, "bell", lambda: rings.append(1))
        runner = app.services.runner
        # Two runs started by the scheduler's path (not by the console): both ask.
        door = asyncio.ensure_future(runner.run("door_access", trigger="schedule"))
        escalation = asyncio.ensure_future(runner.run("daily_escalation", trigger="schedule"))
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalModal) and app.asker.waiting == 2,
                         what="one modal and one request queued")
        first = app.screen
        assert rings == [1]
        await pilot.press("n", *"not today", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalModal) and app.screen is not first,
                         what="the second request")
        assert rings == [1, 1]
        assert {first.request.workflow, app.screen.request.workflow} == {"door_access", "daily_escalation"}
        while not (door.done() and escalation.done()):  # deny whatever else they ask (door access: restores)
            await wait_until(pilot, lambda: (door.done() and escalation.done()) or isinstance(app.screen, ApprovalModal),
                             what="the runs to end")
            answered = app.screen
            if isinstance(answered, ApprovalModal):
                await pilot.press("n", "enter")
                await wait_until(pilot, lambda: app.screen is not answered, what="the modal to close")
    assert [door.result().status, escalation.result().status] == ["succeeded", "succeeded"]
    decisions = [row for row in await _audit(demo_path) if row["via"] == "tui"]
    assert len(decisions) >= 2 and {row["decision"] for row in decisions} == {"denied"}
    assert "not today" in decisions[0]["detail"]


async def test_a_timed_out_request_waits_in_pending_and_is_approved_there(config, demo_path, clock) -> None:
    async with open_console(tui_config(config, approval_timeout_seconds=3), demo_path, clock) as pilot:
        app = pilot.app
        await _ask_door_access(pilot)
        run_id = await finished(pilot, "door_access")  # nobody answers: each request times out
        assert app.traces[run_id].status == "awaiting_approval"
        await wait_until(pilot, lambda: not isinstance(app.screen, ApprovalModal), what="the modal to close")
        assert await _door_changes(demo_path, run_id) == {}
        await pilot.press("escape")  # back from the live view
        statements: list[str] = []
        await app.services.db.set_trace_callback(statements.append)
        screen, table = await _open_pending(pilot)
        # Both requests of the run wait: the suspensions and the restores.
        await wait_until(pilot, lambda: table.row_count == 2 and bool(screen.query(PlanItems)), what="the pending rows")
        suspend = next(row for row in screen.rows.values() if row["tool"] == "suspend_door_access")
        table.move_cursor(row=table.get_row_index(str(suspend["id"])))
        await wait_until(pilot, lambda: screen.query_one(PlanItems).plan.tool == "suspend_door_access",
                         what="its plan on screen")
        await app.services.db.set_trace_callback(None)
        planned = {item.target_id for item in screen.query_one(PlanItems).plan.items}  # what the manager saw
        # The list read no plan; each plan was read once, when its request was shown (a list of hundreds costs
        # its rows, not hundreds of plans).
        read = "SELECT id, run_id, status, pid, pid_started, plan, approved_keys FROM approvals WHERE id = {}"
        plans = [sql for sql in statements if sql.startswith(("SELECT * FROM approvals WHERE", read[:60]))
                 and "status = 'asking'" not in sql]  # (those being asked: checking that their asker lives)
        one_each = {read.format(approval_id) for approval_id in screen.rows}
        assert set(plans) <= one_each and len(plans) == len(set(plans))
        assert read.format(suspend["id"]) in plans
        await pilot.press("y")
        await wait_until(pilot, lambda: table.row_count == 1, what="the request to be decided")
    assert set(await _door_changes(demo_path, run_id)) == planned
    async with open_database(demo_path) as db:
        row = await db.fetch_one("SELECT status, decided_via, decided_by FROM approvals WHERE id = ?", [suspend["id"]])
    assert row == {"status": "done", "decided_via": "tui", "decided_by": "tester"}


async def test_approving_a_pending_request_in_dry_run_changes_nothing(config, demo_path, clock) -> None:
    async with open_console(tui_config(config, approval_timeout_seconds=3), demo_path, clock) as pilot:
        app = pilot.app
        await _ask_door_access(pilot)
        run_id = await finished(pilot, "door_access")
        await wait_until(pilot, lambda: not isinstance(app.screen, ApprovalModal), what="the modal to close")
        await pilot.press("escape")
        await pilot.press("d")  # the console's dry-run toggle
        assert app.dry_run_mode
        screen, table = await _open_pending(pilot)
        await wait_until(pilot, lambda: table.row_count == 2 and bool(screen.query(PlanItems)), what="the pending rows")
        await pilot.press("y")
        await wait_until(pilot, lambda: not screen.busy and any("dry run" in n.message for n in app._notifications),
                         what="the dry-run notice")
        assert table.row_count == 2
    assert await _door_changes(demo_path, run_id) == {}
    async with open_database(demo_path) as db:
        assert {r["status"] for r in await db.fetch_all("SELECT status FROM approvals")} == {"pending"}


async def test_quitting_while_a_run_waits_cancels_it_and_keeps_the_request(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        await _ask_door_access(pilot)
        await pilot.press("ctrl+q")
        assert app.is_running  # the first press only warns: a run is in progress
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, what="the app to exit")
    async with open_database(demo_path) as db:
        assert await db.fetch_value("SELECT status FROM runs WHERE workflow = 'door_access'") == "cancelled"
        assert await db.fetch_value("SELECT status FROM approvals") == "pending"
        assert await db.fetch_value("SELECT COUNT(*) FROM door_changes WHERE run_id IS NOT NULL AND "
                                    "run_id = (SELECT MAX(id) FROM runs)") == 0


async def test_refreshing_while_a_request_is_asked_never_takes_it_for_stale(config, demo_path, clock) -> None:
    """The dashboard counts pending approvals on every refresh; that must not turn the one on screen stale."""
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        stop = asyncio.Event()

        async def refresh_constantly() -> int:
            count = 0
            while not stop.is_set():
                await load_state(app.services, demo=True, asking=app.asker.waiting)
                count += 1
            return count

        refresher = asyncio.ensure_future(refresh_constantly())
        modal = await _ask_door_access(pilot)
        stop.set()
        assert await refresher > 0
        await pilot.press("y")
        run_id = await _deny_the_rest(pilot, modal, "door_access")
    audit = await _audit(demo_path)
    assert set(await _door_changes(demo_path, run_id)) == {item.target_id for item in modal.plan.items}
    assert not [row for row in audit if "process that was asking ended" in row["detail"]]


async def test_a_damaged_plan_is_one_notice_and_the_rest_of_the_list_stands(config, demo_path, clock) -> None:
    """The list reads no plan, so a damaged one no longer loses the whole list: it is said when its request is shown."""

    good = {"tool": "suspend_door_access", "action": "Suspend door access", "risk": "high", "skipped": [], "args": {},
            "items": [{"id": 2, "name": "Member two", "key": "member-2"}]}
    async with open_database(demo_path) as db, db.write() as tx:
        ids = [await tx.insert("INSERT INTO approvals (workflow, tool, risk, title, plan, item_count, status,"
                               " requested_at) VALUES ('door_access', 'suspend_door_access', 'high', ?, ?, 1,"
                               " 'pending', '2026-11-02T14:00:00')", [title, plan])
               for title, plan in (("damaged", "{not json"), ("Suspend door access: 1 target", json.dumps(good)))]
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        screen, table = await _open_pending(pilot)
        await wait_until(pilot, lambda: table.row_count == 2 and any(
            f"approval #{ids[0]}: unreadable plan" in n.message for n in app._notifications), what="the notice")
        await wait_until(pilot, lambda: "cannot be read" in str(screen.query_one("#pending-plan").render()),
                         what="the placeholder")
        assert screen.shown is None and not screen.query(PlanItems)  # nothing to approve there
        table.move_cursor(row=table.get_row_index(str(ids[1])))
        await wait_until(pilot, lambda: screen.shown == ids[1], what="the other request's plan")
        assert [item.target_id for item in screen.query_one(PlanItems).plan.items] == [2]


async def _two_pending(path: Any, config: Any, clock: Any) -> list[int]:
    """Two suspensions nobody was there to answer (each of two demo members due one), pending."""
    async with open_database(path) as db:
        gate = ApprovalGate(db=db, config=config, clock=clock, bus=EventBus())
        ids = []
        for members in ([2, 350], [357, 362]):
            run_id = await RunRecorder(db, clock).start_run("door_access", "manual", "offline", False)
            ctx = ToolContext(db, config, clock, "door_access", run_id, False)
            outcome = await call_tool(ctx, "suspend_door_access", {"member_ids": members}, None, gate.approve)
            ids.append(outcome.decision.approval_id)
    return ids


async def test_a_request_approved_in_part_elsewhere_shows_and_finishes_only_that_part(config, demo_path, clock) -> None:
    first, second = await _two_pending(demo_path, config, clock)
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        screen, table = await _open_pending(pilot)
        await wait_until(pilot, lambda: table.row_count == 2 and screen.shown == first, what="the first plan")
        assert screen.rows[second]["status"] == "pending"  # as listed
        # Meanwhile another console approves only member 357 of the second, and carrying it out is cut short.
        store = app.services.gate.store
        plan = json.loads(await app.services.db.fetch_value("SELECT plan FROM approvals WHERE id = ?", [second]))
        key = next(item["key"] for item in plan["items"] if item["id"] == 357)
        decision = Decision("partial", "cli", "other", "", approved_keys=frozenset({key}), approval_id=second)
        await store.move(second, "partly_approved", decision=decision)
        await store.move(second, "failed", result={"error": "OperationalError: disk I/O error"})
        table.move_cursor(row=table.get_row_index(str(second)))
        await wait_until(pilot, lambda: screen.shown == second, what="the second plan")
        assert str(table.get_cell(str(second), "status")) == "interrupted"  # the row says what the read found
        note = screen.query_one("#pending-plan", Static)
        assert note.display and "interrupted" in str(note.render())
        items = screen.query_one(PlanItems)
        assert [item.target_id for item in items.plan.items] == [357] and items.chosen_keys() == {key}
        items.focus()
        await pilot.press("space")  # locked: finishing carries out what was approved, not a new choice
        assert items.chosen_keys() == {key}
        await pilot.press("y")
        await wait_until(pilot, lambda: table.row_count == 1, what="the request to be finished")
    async with open_database(demo_path) as db:
        done = await db.fetch_all("SELECT member_id FROM door_changes WHERE action = 'suspend' AND member_id IN "
                                  "(357, 362)")
        assert [row["member_id"] for row in done] == [357]
        assert await db.fetch_value("SELECT status FROM approvals WHERE id = ?", [second]) == "done"


async def test_a_plan_read_that_fails_is_said_and_read_again_when_chosen_again(config, demo_path, clock) -> None:
    first, second = await _two_pending(demo_path, config, clock)
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        gate = app.services.gate
        real, reads, fail = gate.pending_plan, [], asyncio.Event()

        async def locked_once(approval_id: int) -> Any:
            reads.append(approval_id)
            if len(reads) == 1:
                await fail.wait()
                raise sqlite3.OperationalError("database is locked")
            return await real(approval_id)

        gate.pending_plan = locked_once
        screen, table = await _open_pending(pilot)
        placeholder = screen.query_one("#pending-plan", Static)
        await wait_until(pilot, lambda: table.row_count == 2 and reads == [first], what="the first read")
        await pilot.pause()
        fail.set()
        await wait_until(pilot, lambda: "could not be read just now" in str(placeholder.render()), what="the line")
        assert "database is locked" in str(placeholder.render()) and screen.shown is None
        await wait_until(pilot, lambda: any("OperationalError" in n.message for n in app._notifications),
                         what="the failed read reported where every failed worker is")
        table.move_cursor(row=table.get_row_index(str(second)))
        await wait_until(pilot, lambda: screen.shown == second, what="the other plan")
        table.move_cursor(row=table.get_row_index(str(first)))  # chosen again: read again
        await wait_until(pilot, lambda: screen.shown == first, what="the first plan, read again")
        assert reads == [first, second, first]


async def test_only_the_plan_shown_can_be_approved(config, demo_path, clock) -> None:
    first, _ = await _two_pending(demo_path, config, clock)
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        gate = app.services.gate
        real, hold = gate.pending_plan, asyncio.Event()

        async def held(approval_id: int) -> Any:
            await hold.wait()
            return await real(approval_id)

        gate.pending_plan = held
        screen, table = await _open_pending(pilot)
        await wait_until(pilot, lambda: table.row_count == 2 and "Reading its plan" in str(
            screen.query_one("#pending-plan", Static).render()), what="the plan being read")
        await pilot.press("y")  # nothing on screen to approve yet
        await pilot.pause()
        assert not screen.busy and [row["decision"] for row in await _audit(demo_path)] == ["timed_out"] * 2
        hold.set()
        await wait_until(pilot, lambda: screen.shown == first, what="the plan, once read")
    async with open_database(demo_path) as db:
        assert {row["status"] for row in await db.fetch_all("SELECT status FROM approvals")} == {"pending"}
