"""``gymconsole approvals`` in a real subprocess: list what waits, approve (all or part), deny, refusals."""

from __future__ import annotations

import asyncio
import getpass
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers_safety import ROOT, build_world, count, gymconsole_env, rows

from gymconsole.clock import SystemClock
from gymconsole.config import load_config
from gymconsole.db import open_database
from gymconsole.engine.events import EventBus
from gymconsole.engine.gate import ApprovalGate
from gymconsole.engine.history import RunRecorder
from gymconsole.tools.base import ToolContext
from gymconsole.tools.registry import call_tool

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_world(tmp_path_factory.mktemp("cli"))


def cli(db: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gymconsole", *args, "--db", str(db), "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=gymconsole_env())


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and text in proc.stderr, proc.stderr


async def ask_nobody(db_path: Path, config_path: Path, calls: list[tuple[str, str, dict[str, Any]]]) -> list[int]:
    """Run acting tool calls with nobody watching: each high-risk one is saved as a pending request."""
    config = load_config(config_path)
    clock = SystemClock()
    ids = []
    async with open_database(db_path) as db:
        recorder = RunRecorder(db, clock)
        bus = EventBus([recorder])
        gate = ApprovalGate(db=db, config=config, clock=clock, bus=bus, asker=None)
        for workflow, tool, args in calls:
            run_id = await recorder.start_run(workflow, "schedule", "offline", False)
            ctx = ToolContext(db, config, clock, workflow, run_id)
            outcome = await call_tool(ctx, tool, args, None, gate.approve)
            assert outcome.decision is not None and outcome.decision.status == "timed_out", outcome.result
            ids.append(outcome.decision.approval_id)
    return ids


def door(db: Path, member_id: int) -> str:
    return count(db, "SELECT access_state FROM door_credentials WHERE member_id = ?", (member_id,))


def test_list_approve_part_deny_and_refusals(world: tuple[Path, Path], tmp_path: Path) -> None:
    template, config = world
    db = tmp_path / "gym.db"
    shutil.copyfile(template, db)
    first, second, third = asyncio.run(ask_nobody(db, config, [
        ("door_access", "suspend_door_access", {"member_ids": [2, 350, 357]}),
        ("daily_escalation", "escalate_to_collections", {"member_ids": [1]}),
        ("door_access", "suspend_door_access", {"member_ids": [362]}),
    ]))

    listing = cli(db, config, "approvals")
    assert listing.returncode == 0, listing.stderr
    assert f"#{first} waiting for a person since" in listing.stdout and "Door access · run #1" in listing.stdout
    assert "pending" not in listing.stdout and "door_access" not in listing.stdout  # plain words; raw in --json
    assert "Suspend door access · risk high · 3 targets" in listing.stdout
    assert "[@click=app.quit]click me[/] Markup (#2): balance $1,980.00" in listing.stdout  # as written, no markup
    assert "Siobhan O'Brien [/vip] (#1)" in listing.stdout and "Hand over to collections" in listing.stdout
    as_json = json.loads(cli(db, config, "approvals", "--json").stdout)
    assert [(r["id"], r["status"], r["tool"], r["item_count"]) for r in as_json] == [
        (first, "pending", "suspend_door_access", 3), (second, "pending", "escalate_to_collections", 1),
        (third, "pending", "suspend_door_access", 1)]
    assert [i["id"] for i in as_json[0]["plan"]["items"]] == [2, 350, 357]

    partial = cli(db, config, "approvals", "approve", str(first), "--only", "350,357")
    assert partial.returncode == 0, partial.stderr
    assert f"approval #{first} partly approved: done 2" in partial.stdout
    assert "skipped: [@click=app.quit]click me[/] Markup (#2): not approved" in partial.stdout
    assert [door(db, m) for m in (2, 350, 357)] == ["active", "suspended", "suspended"]

    one_line_error(cli(db, config, "approvals", "approve", str(first)), 1,
                   f"gymconsole: approval #{first} was already decided: done by {getpass.getuser()} via cli")
    denied = cli(db, config, "approvals", "deny", str(second), "--reason", "on a payment plan since Monday")
    assert denied.returncode == 0 and f"approval #{second} denied: on a payment plan since Monday" in denied.stdout
    one_line_error(cli(db, config, "approvals", "deny", str(second), "--reason", "again"), 1,
                   f"approval #{second} was already decided: denied")
    assert count(db, "SELECT COUNT(*) FROM collections WHERE run_id IS NOT NULL") == 0

    one_line_error(cli(db, config, "approvals", "approve", "999"), 2, "no approval request #999")
    one_line_error(cli(db, config, "approvals", "approve", str(third), "--only", "12345"), 2,
                   f"approval #{third} does not include 12345 (its targets: 362)")
    one_line_error(cli(db, config, "approvals", "approve", str(third), "--only", "x"), 2, "--only: expected target IDs")
    assert cli(db, config, "approvals", "deny", str(third)).returncode == 2  # a denial needs a reason
    missing = subprocess.run([sys.executable, "-m", "gymconsole", "approvals", "--db", str(tmp_path / "none.db"),
                              "--config", str(config)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    one_line_error(missing, 2, "no database here")

    audit = rows(db, "SELECT approval_id, decision, actor, via FROM audit_log ORDER BY id")
    me = getpass.getuser()
    assert audit == [(first, "timed_out", me, "timeout"), (second, "timed_out", me, "timeout"),
                     (third, "timed_out", me, "timeout"), (first, "partial", me, "cli"),
                     (first, "executed", me, "cli"), (second, "denied", me, "cli")]
    assert [r["id"] for r in json.loads(cli(db, config, "approvals", "--json").stdout)] == [third]
    history = rows(db, "SELECT kind FROM run_events WHERE run_id = 2 ORDER BY seq")
    assert [k for (k,) in history][-1] == "approval_decided"  # the later denial joins the asking run's history


def test_approve_later_skips_who_paid_and_dry_run_decides_nothing(world: tuple[Path, Path], tmp_path: Path) -> None:
    template, config = world
    db = tmp_path / "gym.db"
    shutil.copyfile(template, db)
    (approval,) = asyncio.run(ask_nobody(db, config, [("door_access", "suspend_door_access",
                                                       {"member_ids": [2, 350]})]))
    dry = subprocess.run([sys.executable, "-m", "gymconsole", "--dry-run", "approvals", "approve", str(approval),
                          "--db", str(db), "--config", str(config)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, env=gymconsole_env())
    assert dry.returncode == 0, dry.stderr
    assert "dry run, nothing was done and it stays pending" in dry.stdout
    assert "[@click=app.quit]click me[/] Markup (#2)" in dry.stdout
    after = cli(db, config, "approvals", "approve", str(approval), "--dry-run", "--json")
    assert after.returncode == 0 and json.loads(after.stdout)["result"]["would_do_count"] == 2
    assert door(db, 2) == "active" and count(db, "SELECT status FROM approvals") == "pending"

    import sqlite3

    conn = sqlite3.connect(db)
    with conn:  # member 350 pays before anyone decides
        conn.execute("UPDATE members SET balance_cents = 0, past_due_since = NULL, standing = 'green' WHERE id = 350")
    conn.close()
    done = cli(db, config, "approvals", "approve", str(approval))
    assert done.returncode == 0, done.stderr
    assert f"approval #{approval} approved: done 1, already done 0, skipped 1 (1 not past due)" in done.stdout
    name = count(db, "SELECT first_name || ' ' || last_name FROM members WHERE id = 350")
    assert f"skipped: {name} (#350): not past due" in done.stdout
    assert [door(db, 2), door(db, 350)] == ["suspended", "active"]
    assert count(db, "SELECT COUNT(*) FROM door_changes WHERE member_id = 2 AND run_id IS NOT NULL") == 1
