"""The approval store: its state machine, the asker's identity (pid + start time), release, and the migration."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers_safety import Recorder

from gymconsole.db import Database
from gymconsole.db.connection import _statements
from gymconsole.db.schema import MIGRATIONS
from gymconsole.engine import approvals as states
from gymconsole.engine.approvals import ApprovalStore, StateError
from gymconsole.engine.events import EventBus
from gymconsole.engine.gate import ApprovalError, ApprovalGate, ApprovalRequest
from gymconsole.engine.history import RunRecorder
from gymconsole.process import process_started, same_process_alive
from gymconsole.tools.base import ToolContext
from gymconsole.tools.registry import REGISTRY, Decision, call_tool


async def _plan(db: Database, config: Any, clock: Any, members: list[int]) -> tuple[ToolContext, Any]:
    run_id = await RunRecorder(db, clock).start_run("door_access", "manual", "offline", False)
    ctx = ToolContext(db, config, clock, "door_access", run_id)
    tool = REGISTRY["suspend_door_access"]
    return ctx, await tool.plan(ctx, tool.parse_args({"member_ids": members}))


async def _asking_row(db: Database, ctx: ToolContext, plan: Any, pid: int, started: str | None) -> int:
    """A request left `asking` by another process (as that process would have written it)."""
    async with db.write() as tx:
        approval_id = await tx.insert(
            "INSERT INTO approvals (run_id, workflow, tool, risk, title, plan, item_count, status, requested_at, pid, "
            "pid_started) VALUES (?, 'door_access', 'suspend_door_access', 'high', ?, ?, ?, 'asking', "
            "'2026-11-02T14:00:00', ?, ?)",
            [ctx.run_id, plan.title, json.dumps(plan.as_dict()), len(plan.items), pid, started])
    assert approval_id is not None
    return approval_id


def gate_for(db: Database, config: Any, clock: Any) -> tuple[ApprovalGate, Recorder]:
    seen = Recorder()
    return ApprovalGate(db=db, config=config, clock=clock, bus=EventBus([seen, RunRecorder(db, clock)])), seen


def test_every_state_has_its_transitions_and_only_done_and_denied_are_final() -> None:
    assert set(states.TRANSITIONS) == set(states.STATES)
    assert {s for s, targets in states.TRANSITIONS.items() if not targets} == {states.DONE, states.DENIED}
    for targets in states.TRANSITIONS.values():
        assert targets <= set(states.STATES)
    assert states.ASKING not in set().union(*states.TRANSITIONS.values())  # nothing goes back to asking


async def test_a_move_the_state_does_not_allow_is_refused(demo_db: Database, config: Any, clock: Any) -> None:
    store = ApprovalStore(demo_db, clock)
    ctx, plan = await _plan(demo_db, config, clock, [2])
    approval_id, _ = await store.open(ctx.run_id, ctx.workflow, plan)
    await store.move(approval_id, states.DENIED, expect=[states.ASKING])
    for to in (states.APPROVED, states.CARRYING_OUT, states.DONE, states.RELEASED, states.PENDING):
        with pytest.raises(StateError, match=f"approval #{approval_id} is denied"):
            await store.move(approval_id, to)
    with pytest.raises(StateError, match="no approval request #999"):
        await store.move(999, states.DONE)


def test_a_process_is_named_by_pid_and_start_time() -> None:
    import os

    mine = process_started(os.getpid())
    assert mine and same_process_alive(os.getpid(), mine)
    assert not same_process_alive(os.getpid(), mine + "0")  # same PID, another start time: a reused PID
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for _ in range(500):
            if process_started(zombie.pid) is None:
                break
            subprocess.run(["true"])  # let it end (not reaped: it stays a zombie)
        assert process_started(zombie.pid) is None
    finally:
        zombie.wait()


async def test_a_reused_pid_does_not_hold_a_request(demo_db: Database, config: Any, clock: Any) -> None:
    """The row names a live process by PID, but that process started at another time: the asker is gone."""
    import os

    gate, _ = gate_for(demo_db, config, clock)
    ctx, plan = await _plan(demo_db, config, clock, [2])
    parent = os.getppid()
    reused = await _asking_row(demo_db, ctx, plan, parent, "0:1")
    alive = await _asking_row(demo_db, ctx, plan, parent, process_started(parent))
    listed = {row["id"]: row["status"] for row in await gate.pending()}
    assert listed == {reused: "released", alive: "asking"}
    [audit] = await demo_db.fetch_all("SELECT decision, via, detail, approval_id FROM audit_log")
    assert (audit["decision"], audit["via"], audit["approval_id"]) == ("released", "system", reused)
    assert f"(pid {parent}) ended" in audit["detail"]
    outcome = await gate.decide_pending(reused, True, actor="dana", via="cli")
    assert outcome["result"]["done_count"] == 1


async def test_a_zombie_asker_releases_its_request(demo_db: Database, config: Any, clock: Any) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline()"], stdin=subprocess.PIPE)
    try:
        started = None
        for _ in range(500):
            started = process_started(child.pid)
            if started:
                break
        gate, _ = gate_for(demo_db, config, clock)
        ctx, plan = await _plan(demo_db, config, clock, [2])
        approval_id = await _asking_row(demo_db, ctx, plan, child.pid, started)
        assert [r["status"] for r in await gate.pending()] == ["asking"]
        assert child.stdin is not None
        child.stdin.close()  # it ends, and nobody reaps it: a zombie with the same PID
        for _ in range(1000):
            if process_started(child.pid) is None:
                break
            subprocess.run(["true"])
        assert [(r["id"], r["status"]) for r in await gate.pending()] == [(approval_id, "released")]
    finally:
        child.wait()


async def test_release_takes_a_request_from_a_live_asker_and_its_late_answer_does_nothing(
        demo_db: Database, config: Any, clock: Any) -> None:
    import asyncio

    gate, _ = gate_for(demo_db, config, clock)
    ctx, plan = await _plan(demo_db, config, clock, [2])
    answer: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
    asked: list[ApprovalRequest] = []

    async def stuck_console(request: ApprovalRequest) -> Decision:
        asked.append(request)
        return await answer

    gate.asker = stuck_console
    task = asyncio.ensure_future(call_tool(ctx, "suspend_door_access", {"member_ids": [2]}, None, gate.approve,
                                           gate.mark_executed))
    while not asked:
        await asyncio.sleep(0.001)
    approval_id = asked[0].approval_id
    with pytest.raises(ApprovalError, match="being asked right now .* gymconsole approvals release"):
        await gate.decide_pending(approval_id, True, actor="dana", via="cli")
    released = await gate.release(approval_id, actor="dana", via="cli", reason="the front desk PC froze")
    assert (released["status"], released["was"]) == ("released", "asking")
    with pytest.raises(ApprovalError, match="already waiting"):
        await gate.release(approval_id, actor="dana", via="cli")
    answer.set_result(Decision("approved", "tui", "manager"))  # the frozen console answers after all
    outcome = await task
    assert outcome.decision.status == "denied" and "released meanwhile" in outcome.decision.reason
    assert await demo_db.fetch_value("SELECT access_state FROM door_credentials WHERE member_id = 2") == "active"
    done = await gate.decide_pending(approval_id, True, actor="dana", via="cli")
    assert done["result"]["done_count"] == 1
    audit = await demo_db.fetch_all("SELECT decision, actor, via, detail FROM audit_log ORDER BY id")
    assert [(a["decision"], a["actor"], a["via"]) for a in audit] == [
        ("released", "dana", "cli"), ("approved", "dana", "cli"), ("executed", "dana", "cli")]
    assert "the front desk PC froze" in audit[0]["detail"]


async def test_a_failed_carrying_out_is_recorded_and_finished_once_later(
        demo_db: Database, config: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gate, _ = gate_for(demo_db, config, clock)
    gate.asker = lambda request: _answer("approved")
    ctx, _plan_ = await _plan(demo_db, config, clock, [2, 350])
    tool = REGISTRY["suspend_door_access"]

    async def breaks(ctx: ToolContext, plan: Any) -> dict[str, Any]:
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(REGISTRY, "suspend_door_access", tool._replace(execute=breaks))
    outcome = await call_tool(ctx, "suspend_door_access", {"member_ids": [2, 350]}, None, gate.approve,
                              gate.mark_executed)
    assert outcome.is_error
    [row] = await demo_db.fetch_all("SELECT id, status, result FROM approvals")
    assert row["status"] == "failed" and "No space left" in json.loads(row["result"])["error"]
    assert [(r["id"], r["status"]) for r in await gate.pending()] == [(row["id"], "interrupted")]
    monkeypatch.setitem(REGISTRY, "suspend_door_access", tool)
    finished = await gate.decide_pending(row["id"], True, actor="dana", via="cli")
    assert finished["result"]["done_count"] == 2
    assert await gate.pending() == []


async def _answer(status: str) -> Decision:
    return Decision(status, "tui", "manager")  # type: ignore[arg-type]


async def test_rows_of_the_older_schema_get_their_new_state_names(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:4]:
        for statement in _statements(script):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 4")
    old = [("waiting", None), ("pending", None), ("approved", None), ("approved", "2026-11-02T10:00:00"),
           ("partial", None), ("denied", None), ("executing", None), ("executed", "2026-11-02T10:00:00")]
    for number, (status, executed) in enumerate(old, 1):
        conn.execute("INSERT INTO approvals (id, workflow, tool, risk, title, plan, status, requested_at, executed_at) "
                     "VALUES (?, 'door_access', 'suspend_door_access', 'high', 't', '{}', ?, '2026-11-02', ?)",
                     [number, status, executed])
        conn.execute("INSERT INTO audit_log (at, approval_id, tool, decision, actor, via) "
                     "VALUES ('2026-11-02', ?, 'suspend_door_access', 'timed_out', 'dana', 'timeout')", [number])
    conn.close()
    db = await Database.open(path)
    try:
        got = [r["status"] for r in await db.fetch_all("SELECT status FROM approvals ORDER BY id")]
        assert got == ["asking", "pending", "approved", "done", "partly_approved", "denied", "carrying_out", "done"]
        assert await db.fetch_value("SELECT COUNT(*) FROM audit_log WHERE approval_id IS NOT NULL") == len(old)
        assert await db.fetch_all("PRAGMA foreign_key_check") == []
    finally:
        await db.close()


async def test_the_count_of_waiting_requests_is_what_the_list_shows_and_reads_no_plan(
        demo_db: Database, config: Any, clock: Any) -> None:
    """The dashboard counts at every run: the same number as the pending list, without reading any request whole."""
    import os

    store = ApprovalStore(demo_db, clock)
    ctx, plan = await _plan(demo_db, config, clock, [2])  # its run is still running
    parent, gone = os.getppid(), 999_999_999
    rows = {"asking, alive": (states.ASKING, parent, process_started(parent)),
            **{f"{status}, {who}": (status, pid, process_started(pid) if pid == parent else "0:1")
               for status in (states.APPROVED, states.PARTLY_APPROVED, states.CARRYING_OUT)
               for who, pid in (("carried out now", parent), ("its carrier gone", gone))},
            **{status: (status, gone, "0:1") for status in (states.PENDING, states.RELEASED, states.FAILED,
                                                            states.DONE, states.DENIED)}}
    for status, pid, started in rows.values():
        approval_id = await _asking_row(demo_db, ctx, plan, pid, started)
        async with demo_db.write() as tx:
            await tx.execute("UPDATE approvals SET status = ? WHERE id = ?", [status, approval_id])
    listed = [a.status for a in await store.open_requests() if a.status != states.ASKING]
    assert sorted(listed) == ["interrupted"] * 4 + ["pending", "released"]
    statements: list[str] = []
    await demo_db.set_trace_callback(statements.append)
    try:
        assert await store.count_waiting() == len(listed) == 6
    finally:
        await demo_db.set_trace_callback(None)
    assert statements and not [sql for sql in statements if "plan" in sql or "SELECT *" in sql]
