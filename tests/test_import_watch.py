"""The watch folder: exports dropped in a folder are imported before scheduled runs, then filed away."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from helpers_engine import engine
from helpers_import import invoices_export, members_export, write

from gymconsole.db import Database
from gymconsole.importer.watch import WatchFolder


def watching(config, folder: Path):
    imports = config.import_.model_copy(update={"watch_folder": str(folder)})
    return config.model_copy(update={"import_": imports})


def settled(*paths: Path) -> None:
    """Files written a minute ago (a file still being written is left for the next scan)."""
    for path in paths:
        past = time.time() - 60
        os.utime(path, (past, past))


async def test_files_are_imported_in_order_and_filed_with_their_reports(config, clock, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    config = watching(config, folder)
    invoices = invoices_export(folder)           # has rejects: an unknown member and a duplicate ID
    members = members_export(folder, "Members-2026-11-02.csv")  # one duplicate ID
    write(members.with_name("members-broken.csv"), "Member ID;First Name\nM1;Ana\n", "utf-8")
    fresh = write(folder / "members-still-copying.csv", "x", "utf-8")
    settled(invoices, members, folder / "members-broken.csv")
    alerts: list[str] = []

    async def alert(line: str) -> None:
        alerts.append(line)

    db = await Database.open(config.database_path(), create=True)
    try:
        results = await WatchFolder(db, config, clock, alert=alert).scan()
        runs = await db.fetch_all("SELECT workflow, status, summary, error FROM runs ORDER BY id")
        members_count = await db.fetch_value("SELECT COUNT(*) FROM members")
        invoices_count = await db.fetch_value("SELECT COUNT(*) FROM invoices")
    finally:
        await db.close()
    assert [(r.table, r.outcome) for r in results] == [("members", "rejected_rows"), ("members", "unusable"),
                                                       ("invoices", "rejected_rows")]  # members first, then by age
    assert members_count == 9 and invoices_count == 6  # the valid rows of files with rejects went in
    assert fresh.exists() and sorted(p.name for p in folder.iterdir()) == ["failed", "members-still-copying.csv"]
    failed = sorted(p.name for p in (folder / "failed").iterdir())
    assert len([n for n in failed if n.endswith(".report.json")]) == 3
    assert len([n for n in failed if n.endswith(".rejects.csv")]) == 2
    broken_report = json.loads(next((folder / "failed").glob("*members-broken.csv.report.json")).read_text())
    assert "missing required columns" in broken_report["error"]
    assert len(alerts) == 3 and "rejected" in alerts[0] and "could not be imported" in alerts[1]
    assert [r["status"] for r in runs] == ["succeeded", "failed", "succeeded"]
    assert all(r["workflow"] == "import" for r in runs) and "nothing changed" in runs[1]["summary"]


async def test_a_scheduled_run_imports_the_new_export_first(config, clock, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    config = watching(config, folder)
    db = await Database.open(config.database_path(), create=True)
    await db.close()
    members = members_export(folder)
    members.write_text(members.read_text(encoding="utf-8-sig").replace("M103;Ana;Again", "M113;Ana;Again"),
                       encoding="utf-8-sig")
    settled(members)
    async with engine(config, config.database_path(), clock, offline=True) as (services, _):
        assert await services.scheduler.lease.renew()  # this process holds the schedules
        await services.scheduler._scheduled_run("past_due_monitoring", clock.now())
        runs = await services.db.fetch_all("SELECT workflow, trigger FROM runs ORDER BY id")
        count = await services.db.fetch_value("SELECT COUNT(*) FROM members")
    assert [(r["workflow"], r["trigger"]) for r in runs] == [("import", "schedule"),
                                                             ("past_due_monitoring", "schedule")]
    assert count == 11 and [p.name for p in (folder / "imported").iterdir()][0].endswith("members.csv")
