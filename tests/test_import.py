"""gymconsole import: messy exports in, stable identity, nothing lost, the console's own records kept."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from helpers_import import (MEMBERS_HEADER, csv_text, invoices_export, members_export, members_export_v2,
                            prospects_export, write)

from gymconsole.cli import main
from gymconsole.db import open_database
from gymconsole.importer.values import BadValue, money_cents, parse_date

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def gym(tmp_path: Path) -> list[str]:
    """An empty gym database; the options every command gets."""
    options = ["--config", str(ROOT / "config.toml"), "--db", str(tmp_path / "gym.db")]
    assert main(["init", *options]) == 0
    return options


def run(capsys: pytest.CaptureFixture[str], gym: list[str], *args: str) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()
    code = main(["import", *args, *gym, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def rows(gym: list[str], sql: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        async with open_database(gym[-1]) as db:
            return await db.fetch_all(sql)

    return asyncio.run(read())


def test_a_messy_members_export(tmp_path, gym, capsys):
    code, report, _ = run(capsys, gym, "members", str(members_export(tmp_path)))
    assert code == 1  # some rows rejected, the rest imported
    assert report["rows"] == 11 and report["new"] == 9 and report["rejected"] == 2
    assert [r["line"] for r in report["rejects"]] == [6, 8]  # the quoted newline (lines 2-3) counts
    assert all("M103 appears more than once (lines 6, 8)" in r["reason"] for r in report["rejects"])
    people = {r["external_id"]: r for r in rows(gym, "SELECT * FROM members")}
    assert "M103" not in people
    jose = people["M100"]
    assert (jose["first_name"], jose["last_name"], jose["balance_cents"]) == ("José", "Müller", 123456)
    assert jose["status"] == "active" and jose["past_due_since"] == "2026-08-29" and jose["standing"] == "red"
    assert jose["notes"] == "Prefers mornings.\nAsked about the sauna."
    assert people["M104"]["status"] == "frozen" and people["M105"]["status"] == "cancelled"
    assert people["M106"]["membership_type"] == "pay_per_visit" and people["M106"]["standing"] == "green"
    assert people["M107"]["balance_cents"] == -1200 and people["M107"]["standing"] == "green"
    assert people["M102"]["membership_type"] == "annual"


def test_the_same_file_again_changes_nothing(tmp_path, gym, capsys):
    path = members_export(tmp_path)
    run(capsys, gym, "members", str(path))
    before = rows(gym, "SELECT * FROM members ORDER BY id")
    code, report, _ = run(capsys, gym, "members", str(path))
    assert (report["new"], report["changed"], report["unchanged"], report["missing"]) == (0, 0, 9, 0)
    assert rows(gym, "SELECT * FROM members ORDER BY id") == before and code == 1


def test_the_next_export_updates_a_balance_and_marks_who_left(tmp_path, gym, capsys):
    run(capsys, gym, "members", str(members_export(tmp_path)))
    code, report, _ = run(capsys, gym, "members", str(members_export_v2(tmp_path)))
    assert code == 0 and report["rejected"] == 0 and report["totals_rows"] == 1
    assert (report["new"], report["changed"], report["unchanged"], report["missing"]) == (1, 1, 7, 1)
    assert report["missing_sample"] == ["Gone Member (M109)"]
    people = {r["external_id"]: r for r in rows(gym, "SELECT * FROM members")}
    assert people["M102"]["balance_cents"] == 4550
    assert people["M109"]["missing_since"] is not None  # still there, never deleted
    assert people["M100"]["join_date"] == "2025-09-28"  # 28.09.2025, day first because of the dots


def test_invoices_for_unknown_members_and_duplicate_ids_are_rejects(tmp_path, gym, capsys):
    run(capsys, gym, "members", str(members_export(tmp_path)))
    rejects = tmp_path / "rejects.csv"
    code, report, _ = run(capsys, gym, "invoices", str(invoices_export(tmp_path)), "--rejects", str(rejects))
    assert code == 1 and report["new"] == 6 and report["rejected"] == 3
    reasons = {r["line"]: r["reason"] for r in report["rejects"]}
    assert reasons[5] == "member_id M999 is not a known member (import members first)"
    assert "INV-5 appears more than once (lines 6, 7)" in reasons[6] and 7 in reasons
    written = rejects.read_text(encoding="utf-8-sig").splitlines()
    assert written[0].startswith("line,reason,Invoice #") and len(written) == 4 and written[1].startswith("5,")
    orphans = rows(gym, "SELECT COUNT(*) AS n FROM invoices i LEFT JOIN members m ON m.id = i.member_id "
                              "WHERE m.id IS NULL")
    assert orphans[0]["n"] == 0
    inv2 = (rows(gym, "SELECT * FROM invoices WHERE external_id = 'INV-2'"))[0]
    assert (inv2["issued_on"], inv2["due_on"], inv2["amount_cents"]) == ("2026-10-08", "2026-10-13", 8000)


@pytest.mark.parametrize("content, why", [
    (b"", "the file is empty"),
    (b"member_id,first_name,last_name,status,join_date\r\n", "a header but no rows"),
    ("Member ID;First Name;Status\nM1;Ana;Active\n".encode(), "missing required columns last_name, join_date"),
    (b"\x00\x01\x02\x03binary\x00\x00\x00" * 50, "no header row"),
])
def test_an_unusable_file_changes_nothing(tmp_path, gym, capsys, content, why):
    run(capsys, gym, "members", str(members_export(tmp_path)))
    before = rows(gym, "SELECT * FROM members ORDER BY id")
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    code, report, err = run(capsys, gym, "members", str(path))
    assert code == 2 and report == {}
    assert why in err and err.count("\n") == 1 and "Traceback" not in err
    assert rows(gym, "SELECT * FROM members ORDER BY id") == before
    assert len(rows(gym, "SELECT * FROM imports")) == 1


def test_utf16_prospects_and_dry_run(tmp_path, gym, capsys):
    path = prospects_export(tmp_path)
    code, report, _ = run(capsys, gym, "prospects", str(path), "--dry-run")
    assert code == 0 and report["new"] == 13 and report["dry_run"]
    assert rows(gym, "SELECT * FROM prospects") == [] and rows(gym, "SELECT * FROM imports") == []
    code, report, _ = run(capsys, gym, "prospects", str(path))
    stages = {r["external_id"]: r["stage"] for r in rows(gym, "SELECT * FROM prospects")}
    assert code == 0 and stages["L1"] == "toured" and stages["L0"] == "new" and stages["L99"] == "lost"


def test_the_console_keeps_what_it_owns(tmp_path, gym, capsys):
    """A STOP reply recorded by the console outlives an export that says opted in; a door the console
    suspended stays suspended when the export (not yet aware) says active."""
    from gymconsole.clock import SystemClock
    from gymconsole.delivery.outbox import record_stop_reply

    run(capsys, gym, "members", str(members_export(tmp_path)))
    door = write(tmp_path / "door.csv", csv_text([["Member ID", "Badge", "Access"], ["M100", "B-100", "Enabled"],
                                                  ["M101", "B-101", "Enabled"]]), "utf-8")
    run(capsys, gym, "door_credentials", str(door))
    async def console_acts() -> None:
        async with open_database(gym[-1]) as db:
            await record_stop_reply(db, SystemClock(), "555-0101")
            m100 = await db.fetch_value("SELECT id FROM members WHERE external_id = 'M100'")
            async with db.write() as tx:
                await tx.execute("UPDATE door_credentials SET access_state = 'suspended', changed_at = '2026-11-30T09:00:00'"
                                 " WHERE member_id = ?", [m100])
                await tx.execute("INSERT INTO door_changes (effect_key, member_id, action, reason, changed_at) "
                                 "VALUES ('k', ?, 'suspend', 'past due', '2026-11-30T09:00:00')", [m100])

    asyncio.run(console_acts())
    code, report, _ = run(capsys, gym, "members", str(members_export_v2(tmp_path)))
    assert report["conflict_count"] == 1 and report["conflicts"][0]["id"] == "M101"
    assert "STOP" in report["conflicts"][0]["reason"]
    code, report, _ = run(capsys, gym, "door_credentials", str(door))
    assert report["conflict_count"] == 1 and report["conflicts"][0]["id"] == "M100"
    people = {r["external_id"]: r for r in rows(
        gym, "SELECT m.external_id, m.opted_out, d.access_state FROM members m JOIN door_credentials d "
             "ON d.member_id = m.id")}
    assert people["M101"]["opted_out"] == 1 and people["M100"]["access_state"] == "suspended"


def test_a_failure_while_applying_rolls_the_whole_import_back(tmp_path, gym, capsys):
    run(capsys, gym, "members", str(members_export(tmp_path)))
    # Two members with one badge: the unique badge index fails after the first rows went in.
    door = write(tmp_path / "door.csv", csv_text([["Member ID", "Badge", "Access"], ["M100", "B-1", "Enabled"],
                                                  ["M101", "B-1", "Enabled"]]), "utf-8")
    code, _, err = run(capsys, gym, "door_credentials", str(door))
    assert code == 2 and "badge_code" in err and "nothing was imported" in err
    assert rows(gym, "SELECT * FROM door_credentials") == []
    assert len(rows(gym, "SELECT * FROM runs")) == 1


def test_the_template_imports_as_it_is(tmp_path, gym, capsys):
    for table in ("members", "door_credentials"):
        capsys.readouterr()
        assert main(["import", "--template", table]) == 0
        path = tmp_path / f"{table}.csv"
        path.write_text(capsys.readouterr().out, encoding="utf-8")
        code, report, err = run(capsys, gym, table, str(path))
        assert code == 0 and report["new"] == 1, err


def test_a_mapping_from_the_config(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text((ROOT / "config.toml").read_text() + '''
[import.mappings.oldsystem.members]
columns = { "Mbr" = "member_id", "Given" = "first_name", "Family" = "last_name", "State" = "status", "Since" = "join_date", "Extra" = "ignore" }
values = { status = { "A" = "active", "F" = "frozen" } }
date_order = "dmy"
''')
    options = ["--config", str(config), "--db", str(tmp_path / "gym.db")]
    assert main(["init", *options]) == 0
    path = write(tmp_path / "old.csv", "Mbr,Given,Family,State,Since,Extra\n1,Ana,Lee,A,03/04/2025,x\n"
                                       "2,Bo,Kim,F,13/04/2025,y\n3,Cy,Oh,Q,01/01/2025,z\n", "utf-8")
    code, report, _ = run(capsys, options, "members", str(path), "--mapping", "oldsystem")
    assert code == 1 and report["new"] == 2
    assert "unknown status 'Q'" in report["rejects"][0]["reason"]
    people = rows(options, "SELECT external_id, status, join_date FROM members ORDER BY id")
    assert [(p["status"], p["join_date"]) for p in people] == [("active", "2025-04-03"), ("frozen", "2025-04-13")]
    code, _, err = run(capsys, options, "members", str(path), "--mapping", "nosuch")
    assert code == 2 and "no mapping named 'nosuch'" in err


@pytest.mark.parametrize("text, cents", [("$1,234.56", 123456), ("1234.56", 123456), ("(12.00)", -1200),
                                         ("-12.00", -1200), ("12.00-", -1200), ("1.234,56 €", 123456), ("0", 0),
                                         ("$ 64", 6400), ("$1,234,567.89", 123456789), ("1,234", 123400),
                                         ("$64.5", 6450), ("12,50", 1250)])
def test_money(text, cents):
    assert money_cents(text) == cents


@pytest.mark.parametrize("text, order, day", [("2026-11-02", "mdy", "2026-11-02"), ("11/02/2026", "mdy", "2026-11-02"),
                                              ("11/02/2026", "dmy", "2026-02-11"), ("13/02/2026", "mdy", "2026-02-13"),
                                              ("02.11.2026", "mdy", "2026-11-02"), ("46328", "mdy", "2026-11-02"),
                                              ("2026-11-02 14:30", "mdy", "2026-11-02"), ("11/2/26", "mdy", "2026-11-02"),
                                              ("11-02-2026", "mdy", "2026-11-02"), ("31/12/2026", "mdy", "2026-12-31"),
                                              ("11/02/2026", "dmy", "2026-02-11"), ("12/13/2026", "dmy", "2026-12-13")])
def test_dates(text, order, day):
    assert parse_date(text, order) == day


@pytest.mark.parametrize("text", ["abc", "1,2,3.4.5", "$", "12/40/2026", "2026-02-30", "02/30/2026", "00/01/2026"])
def test_bad_values_are_one_clear_reason(text):
    with pytest.raises(BadValue):
        money_cents(text) if not any(ch in text for ch in "/-") else parse_date(text, "mdy")


def test_json_lists_at_most_50_rejects_and_the_rejects_file_has_them_all(tmp_path, gym, capsys):
    lines = ["member_id,first_name,last_name,status,join_date"]
    lines += [f"M{n},Ana,Lee,{'Active' if n % 2 else 'Sleeping'},2025-01-01" for n in range(120)]
    path = write(tmp_path / "members.csv", "\n".join(lines) + "\n", "utf-8")
    rejects = tmp_path / "rejects.csv"
    code, report, _ = run(capsys, gym, "members", str(path), "--rejects", str(rejects))
    assert code == 1 and (report["rows"], report["new"], report["rejected"]) == (120, 60, 60)
    assert set(report) >= {"table", "file", "rows", "new", "changed", "unchanged", "rejected", "rejects"}
    assert len(report["rejects"]) == 50 and set(report["rejects"][0]) == {"line", "reason"}
    assert [r["line"] for r in report["rejects"][:2]] == [2, 4]
    assert len(rejects.read_text(encoding="utf-8-sig").splitlines()) == 1 + 60
