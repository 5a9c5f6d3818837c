"""After an import, the six workflows run offline on the gym's own data and act on exactly the right people;
on stale data the acts that depend on balances and status are refused with the reason."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fakeapi import Reply, Text, ToolUse
from helpers_engine import answer_yes, engine
from helpers_import import (door_export, invoices_export, members_export, members_export_v2, payments_export,
                            prospects_export, referrals_export, training_export)

from gymconsole.db import Database
from gymconsole.importer.service import import_file


@pytest.fixture
async def imported(config, clock, tmp_path: Path) -> AsyncIterator[Path]:
    """An empty gym, then a day of exports, then the next members export (M102 paid some, M109 gone)."""
    path = config.database_path()
    db = await Database.open(path, create=True)
    try:
        for table, export in [("members", members_export), ("prospects", prospects_export),
                              ("invoices", invoices_export), ("payments", payments_export),
                              ("referrals", referrals_export), ("training_clients", training_export),
                              ("members", members_export_v2), ("door_credentials", door_export)]:
            report = await import_file(db, config, clock, table, export(tmp_path))
            assert report.new or report.changed, report
        m100 = await db.fetch_value("SELECT id FROM members WHERE external_id = 'M100'")
        async with db.write() as tx:  # the console sent M100 a final notice ten days ago
            await tx.execute("INSERT INTO outbox (effect_key, kind, channel, person_kind, person_id, to_address, body, "
                             "status, created_at) VALUES ('earlier', 'final_notice', 'email', 'member', ?, "
                             "'jose@example.com', 'final notice', 'sent', '2026-10-23T15:00:00')", [m100])
    finally:
        await db.close()
    yield path


async def people(db: Database, sql: str, params: list[Any] | None = None) -> set[str]:
    return {row["external_id"] for row in await db.fetch_all(sql, params or [])}


async def test_the_six_workflows_act_on_the_right_people(config, clock, imported):
    async with engine(config, imported, clock, offline=True, asker=answer_yes) as (services, _):
        results = {name: await services.runner.run(name) for name in sorted(config.workflows)}
        db = services.db
        for name, result in results.items():
            assert result.status == "succeeded", (name, result.error, result.summary)
        notices = await db.fetch_all("SELECT o.kind, m.external_id FROM outbox o JOIN members m ON m.id = o.person_id "
                                     "WHERE o.person_kind = 'member' AND o.run_id IS NOT NULL")
        assert {(n["kind"], n["external_id"]) for n in notices} == {
            ("reminder", "M102"), ("final_notice", "M100"), ("final_notice", "M101")}
        assert await people(db, "SELECT m.external_id FROM door_changes c JOIN members m ON m.id = c.member_id "
                                "WHERE c.action = 'suspend'") == {"M100", "M101"}
        assert await people(db, "SELECT m.external_id FROM door_changes c JOIN members m ON m.id = c.member_id "
                                "WHERE c.action = 'restore'") == {"M103"}
        assert await people(db, "SELECT m.external_id FROM collections c JOIN members m ON m.id = c.member_id") == {"M100"}
        assert await people(db, "SELECT r.external_id FROM rewards w JOIN referrals r ON r.id = w.referral_id") == {"R1"}
        campaign = await people(db, "SELECT p.external_id FROM outbox o JOIN prospects p ON p.id = o.person_id "
                                    "WHERE o.kind = 'campaign'")
        assert campaign == {"L0", "L2", "L4", "L6", "L8", "L10"}
        flagged = {(row["external_id"], row["reason"].split(":")[0]) for row in await db.fetch_all(
            "SELECT i.external_id, f.reason FROM flags f JOIN invoices i ON i.id = f.subject_id")}
        assert flagged == {("INV-8", "large_amount"), ("INV-1", "open_overdue"), ("INV-7", "duplicate")}
        # Gone Member (M109, 90 days and $500 past due) was offered to the acts and refused each time.
        for name, refusal in [("door_access", "not in the latest export"),
                              ("daily_escalation", "not in the latest export"),
                              ("referral_check", "referrer is not in the latest export")]:
            recorded = str(await services.history.event_records(results[name].run_id))
            assert "Gone Member" in recorded and refusal in recorded, name


async def test_stale_data_is_refused_with_the_reason(config, clock, imported):
    clock.advance(31 * 3600)
    async with engine(config, imported, clock, offline=True, asker=answer_yes) as (services, _):
        doors = await services.runner.run("door_access")
        notices = await services.runner.run("past_due_monitoring")
        acted = await services.db.fetch_value("SELECT COUNT(*) FROM effects")
    reason = "members data is 31 h old: import a fresh export first"
    assert reason in doors.summary and reason in notices.summary
    assert acted == 0


async def test_the_model_sees_the_stale_data_reason(config, clock, imported, fake_api):
    """Through the real SDK: the model asks for a lockout on 31-hour-old members data and is told why not."""
    clock.advance(31 * 3600)
    async with engine(config, imported, clock, api=fake_api, asker=answer_yes) as (services, _):
        ids = [row["id"] for row in await services.db.fetch_all(
            "SELECT id FROM members WHERE external_id IN ('M100', 'M101')")]
        fake_api.script([Reply([ToolUse("suspend_door_access", {"member_ids": ids, "reason": "past due"})]),
                         Reply([Text("Nothing done: the members export is too old.")])])
        result = await services.runner.run("door_access")
        suspended = await services.db.fetch_value("SELECT COUNT(*) FROM door_changes")
    assert result.mode == "claude" and suspended == 0
    tool_results = [block for block in fake_api.requests[1].json["messages"][-1]["content"]
                    if block.get("type") == "tool_result"]
    assert len(tool_results) == 1
    assert "members data is 31 h old: import a fresh export first" in json.dumps(tool_results[0])


async def test_an_approval_given_before_the_data_went_stale_is_not_carried_out(config, clock, imported):
    from gymconsole.tools.base import ToolContext
    from gymconsole.tools.registry import REGISTRY

    async with engine(config, imported, clock, offline=True) as (services, _):
        ctx = ToolContext(services.db, config, clock, "door_access")
        tool = REGISTRY["suspend_door_access"]
        ids = [row["id"] for row in await services.db.fetch_all("SELECT id FROM members WHERE external_id = 'M101'")]
        plan = await tool.plan(ctx, tool.parse_args({"member_ids": ids}))
        assert plan.items
        clock.advance(27 * 3600)
        result = await tool.execute(ctx, plan)
    assert result["done_count"] == 0 and "members data is 27 h old" in result["skipped"][0]["reason"]


async def test_the_demo_gym_counts_as_fresh(config, demo_path, clock):
    async with engine(config, demo_path, clock, offline=True, asker=answer_yes) as (services, _):
        async with services.db.write() as tx:
            await tx.execute("INSERT INTO imports (table_name, file, imported_at, via, rows, new, changed, unchanged, "
                             "rejected) VALUES ('members', 'old.csv', '2026-01-01T00:00:00', 'cli', 1, 1, 0, 0, 0)")
        result = await services.runner.run("door_access")
    assert result.status == "succeeded" and "h old" not in result.summary
