"""One act per target and period whoever asks for it: the assistant, a saved question or a scheduled workflow.

A reminder sent through ``ask`` on Monday is "already done" for past_due_monitoring that week, and the other
way round; a database written before keys stopped naming the workflow keeps that promise after the upgrade.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fakeapi import Reply, Text, ToolUse
from helpers_engine import answer_yes, engine

from gymconsole.db import Database
from gymconsole.db.connection import _statements
from gymconsole.db.schema import MIGRATIONS
from gymconsole.engine.ask import Assistant

OWING = ("SELECT id FROM members WHERE status = 'active' AND balance_cents > 0 AND opted_out = 0 "
         "AND email IS NOT NULL AND missing_since IS NULL AND past_due_since <= '2026-10-20' ORDER BY id LIMIT 2")


def _reminders(member_ids: list[int]) -> Reply:
    return Reply([ToolUse("notify_past_due_member", {"member_ids": member_ids, "kind": "reminder"})])


async def test_a_reminder_sent_through_ask_is_already_done_for_the_scheduled_workflow(config, demo_path, clock,
                                                                                     fake_api):
    async with engine(config, demo_path, clock, api=fake_api, asker=answer_yes) as (services, _):
        first, second = [row["id"] for row in await services.db.fetch_all(OWING)]
        fake_api.script([_reminders([first]), Reply([Text("Reminder sent.")])])
        asked = await Assistant(services).ask(f"send a payment reminder to member {first}")
        clock.advance(3600)
        fake_api.script([_reminders([first, second]), Reply([Text("Reminders sent.")])])
        scheduled = await services.runner.run("past_due_monitoring", trigger="schedule")
        clock.advance(3600)  # and back: what the workflow sent, the assistant does not send again
        fake_api.script([_reminders([second]), Reply([Text("Already reminded.")])])
        again = await Assistant(services).ask(f"remind member {second} too")
        sent = await services.db.fetch_all(
            "SELECT person_id, run_id FROM outbox WHERE kind = 'reminder' AND person_id IN (?, ?) ORDER BY id",
            [first, second])
        ledger = await services.db.fetch_all(
            "SELECT workflow, target FROM effects WHERE action = 'notify_past_due_member' AND run_id IS NOT NULL "
            "ORDER BY created_at")
        results = [block["content"] for r in fake_api.requests for block in r.json["messages"][-1]["content"]
                   if isinstance(block, dict) and block.get("type") == "tool_result"]

    assert asked.status == scheduled.status == again.status == "succeeded"
    assert sent == [{"person_id": first, "run_id": asked.run_id}, {"person_id": second, "run_id": scheduled.run_id}]
    assert ledger == [{"workflow": "ask", "target": f"member-{first}"},
                      {"workflow": "past_due_monitoring", "target": f"member-{second}"}]
    told = [text for text in results if "already_done_ids" in text]  # what the model was told
    assert len(told) == 2 and f'"already_done_ids":[{first}]' in told[0] and f'"already_done_ids":[{second}]' in told[1]


async def test_keys_written_before_the_upgrade_still_hold(tmp_path: Path):
    """An older database's keys name the workflow: the migration drops the name, so this week's reminder from
    past_due_monitoring stays done for the assistant; a key two workflows both claimed stays as history."""
    path = tmp_path / "old.db"
    upgrade = next(n for n, script in enumerate(MIGRATIONS) if "UPDATE OR IGNORE effects" in script)
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:upgrade]:
        for statement in _statements(script):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {upgrade}")
    rows = [("past_due_monitoring:notify_reminder:member-5:2026-W45", "past_due_monitoring", "member-5", "2026-W45"),
            ("ask:notify_reminder:member-5:2026-W45", "ask", "member-5", "2026-W45"),
            ("door_access:restore_door_access:member-7:2026-11-02T15:00:00", "door_access", "member-7",
             "2026-11-02T15:00:00"),
            ("alerts:approval_wait:approval-3:once", "alerts", "approval-3", "once")]
    for key, workflow, target, period in rows:
        conn.execute("INSERT INTO effects (key, workflow, action, target, period, status, created_at) "
                     "VALUES (?, ?, 'act', ?, ?, 'done', '2026-11-02T10:00:00')", [key, workflow, target, period])
    conn.close()
    db = await Database.open(path)
    try:
        keys = [r["key"] for r in await db.fetch_all("SELECT key FROM effects ORDER BY rowid")]
        await db.execute("INSERT INTO audit_log (at, tool, decision, actor, via) "
                         "VALUES ('2026-11-02', 'restore_door_access', 'approved', 'rule #1', 'rule')")
    finally:
        await db.close()
    assert keys == ["notify_reminder:member-5:2026-W45", "ask:notify_reminder:member-5:2026-W45",
                    "restore_door_access:member-7:2026-11-02T15:00:00", "alerts:approval_wait:approval-3:once"]
