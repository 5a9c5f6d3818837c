"""The database: migrations, pragmas, one-line errors (also through the CLI), and the demo gym's facts."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from gymconsole.cli import main
from gymconsole.db import Database, DatabaseError, open_database
from gymconsole.db.demo import FIXED, INJECTION, build_rows, create_demo, schema_fingerprint
from gymconsole.db.schema import MIGRATIONS, SCHEMA_VERSION

TODAY = date(2026, 11, 2)


def _sqlite(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _version_one(path: Path) -> None:
    """A database as the first release left it: migration 1 only, with a member in it."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(MIGRATIONS[0])
        conn.execute("INSERT INTO members (first_name, last_name, membership_type, standing, status, join_date) "
                     "VALUES ('Ada', 'Lovelace', 'monthly', 'green', 'active', '2020-01-01')")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    finally:
        conn.close()


# --- migrations and pragmas -------------------------------------------------------------------------------------


async def test_fresh_database_is_at_the_latest_version_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    assert SCHEMA_VERSION >= 2
    async with open_database(tmp_path / "new.db", create=True) as db:
        assert await db.fetch_value("PRAGMA user_version") == SCHEMA_VERSION
        assert await db.fetch_value("PRAGMA journal_mode") == "wal"
        assert await db.fetch_value("PRAGMA foreign_keys") == 1
        tables = {r["name"] for r in await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"members", "prospects", "invoices", "effects", "outbox", "runs", "approvals", "audit_log"} <= tables
        with pytest.raises(sqlite3.IntegrityError):
            async with db.write() as tx:
                await tx.insert("INSERT INTO invoices (member_id, issued_on, due_on, amount_cents, status) "
                                "VALUES (424242, '2026-01-01', '2026-01-10', 100, 'open')")
        assert await db.fetch_value("SELECT COUNT(*) FROM invoices") == 0


async def test_rows_are_plain_dicts(tmp_path: Path) -> None:
    async with open_database(tmp_path / "new.db", create=True) as db:
        async with db.write() as tx:
            await tx.insert("INSERT INTO meta (key, value) VALUES (?, ?)", ["k", "v"])
        row = await db.fetch_one("SELECT key, value FROM meta")
        assert type(row) is dict and row == {"key": "k", "value": "v"}
        assert await db.fetch_all("SELECT key FROM meta WHERE key = ?", ["nope"]) == []
        assert await db.meta("k") == "v" and await db.meta("nope") is None


async def test_a_version_1_database_migrates_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _version_one(path)
    async with open_database(path) as db:
        assert await db.fetch_value("PRAGMA user_version") == SCHEMA_VERSION
        assert await db.fetch_value("SELECT first_name FROM members") == "Ada"
        assert await db.fetch_value("SELECT COUNT(*) FROM runs") == 0
    async with open_database(path) as db:  # opening again changes nothing
        assert await db.fetch_value("PRAGMA user_version") == SCHEMA_VERSION


async def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    _sqlite(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(DatabaseError) as caught:
        await Database.open(path)
    assert "newer" in str(caught.value) and "\n" not in str(caught.value)
    assert _sqlite(path, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]


@pytest.mark.parametrize("content", [b"this is not a database at all\n" * 200,
                                     b"SQLite format 3\x00" + b"\xff" * 4000, b"\x00" * 5000])
async def test_a_corrupt_file_is_a_one_line_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(content)
    with pytest.raises(DatabaseError) as caught:
        await Database.open(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert path.read_bytes() == content


async def test_a_missing_file_is_a_one_line_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(DatabaseError) as caught:
        await Database.open(path)
    assert "gymconsole init" in str(caught.value) and not path.exists()


@pytest.mark.parametrize("kind", ["missing", "corrupt", "newer", "folder"])
def test_database_errors_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str,
                                         repo_config: Any) -> None:
    path = tmp_path / "gym.db"
    if kind == "corrupt":
        path.write_bytes(b"garbage" * 1000)
    elif kind == "newer":
        _sqlite(path, "PRAGMA user_version = 999")
    elif kind == "folder":
        path.mkdir()
    code = main(["tool", "get_member", '{"member_id": 1}', "--db", str(path), "--config", str(repo_config.source_path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("gymconsole: ") and err.count("\n") == 1, err


# --- the demo gym -----------------------------------------------------------------------------------------------


async def test_demo_meta_and_refusal_to_overwrite(demo_template: Path, tmp_path: Path) -> None:
    async with open_database(demo_template) as db:
        assert {r["key"]: r["value"] for r in await db.fetch_all("SELECT key, value FROM meta")} == \
            {"demo": "1", "demo_today": "2026-11-02", "scale": "1", "schema": schema_fingerprint()}
        assert await db.fetch_value("PRAGMA journal_mode") == "wal"
        assert await db.fetch_value("PRAGMA user_version") == SCHEMA_VERSION
    with pytest.raises(DatabaseError):
        await create_demo(demo_template, today=TODAY)
    with pytest.raises(ValueError):
        await create_demo(tmp_path / "x.db", scale=0)
    assert not (tmp_path / "x.db").exists()


def test_demo_is_deterministic_and_scales_exactly() -> None:
    one, again, two = build_rows(1, TODAY), build_rows(1, TODAY), build_rows(2, TODAY)
    assert one.rows == again.rows
    for table in ("members", "prospects", "training_clients", "referrals", "door_credentials", "outbox",
                  "collections", "rewards"):
        assert len(two.rows[table]) == 2 * len(one.rows[table]), table
    later = build_rows(1, TODAY + timedelta(days=30))
    assert later.rows["members"][0][11] == (TODAY + timedelta(days=30) - timedelta(days=75)).isoformat()


def test_demo_rows_are_consistent() -> None:
    rows = build_rows(1, TODAY).rows
    members = {m[0]: m for m in rows["members"]}
    badges = [d[2] for d in rows["door_credentials"]]
    assert len(badges) == len(set(badges))
    open_owed: dict[int, int] = {}
    for invoice in rows["invoices"]:
        if invoice[5] == "open":
            open_owed[invoice[1]] = open_owed.get(invoice[1], 0) + invoice[4]
    for member_id, member in members.items():
        assert member[10] == open_owed.get(member_id, 0), member  # a balance is what the open invoices add up to
        assert (member[11] is None) == (member[10] == 0), member
    notices = {o[5]: o[12] for o in rows["outbox"] if o[2] == "final_notice"}
    for member_id, sent in notices.items():
        assert sent[:10] >= members[member_id][11]  # sent after the member fell past due
    old_enough = [m for m, sent in notices.items() if sent[:10] <= (TODAY - timedelta(days=8)).isoformat()]
    assert FIXED["injection_member"] in old_enough and len(old_enough) >= 6
    escalation_due = [m for m in members.values() if m[7] == "active" and m[11] and m[11] <= "2026-09-03"]
    assert any(m[0] not in notices for m in escalation_due)


async def test_hostile_rows_are_stored_verbatim(demo_db: Database) -> None:
    names = {r["id"]: (r["first_name"], r["last_name"], r["notes"]) for r in
             await demo_db.fetch_all("SELECT id, first_name, last_name, notes FROM members WHERE id <= 11")}
    assert names[FIXED["injection_member"]] == ("Siobhan", "O'Brien [/vip]", INJECTION)
    assert names[FIXED["markup_member"]][0] == "[@click=app.quit]click me[/]"
    assert names[FIXED["sql_member"]][0] == "Robert'); DROP TABLE members;--"
    assert names[FIXED["quotes_member"]][0] == 'Robert "Bobby"'
    assert len(names[FIXED["long_note_member"]][2]) == 10_240
    assert names[FIXED["cjk_member"]][:2] == ("太郎", "山田")
    assert names[FIXED["rich_member"]][0] == "[bold red]"
    prospect = await demo_db.fetch_one("SELECT notes, stage, opted_out FROM prospects WHERE id = ?",
                                       [FIXED["injection_prospect"]])
    assert prospect == {"notes": INJECTION, "stage": "new", "opted_out": 0}
    assert await demo_db.fetch_value("SELECT COUNT(*) FROM members") == 420


def test_init_and_tool_through_the_cli_build_the_same_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          demo_template: Path, repo_config: Any) -> None:
    path = tmp_path / "cli.db"
    assert main(["init", "--demo", "--today", "2026-11-02", "--db", str(path),
                 "--config", str(repo_config.source_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "420 members" in out and "4,682 prospects" in out
    tables = [r[0] for r in _sqlite(demo_template, "SELECT name FROM sqlite_master WHERE type = 'table' "
                                                   "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    for table in tables:
        query = f"SELECT * FROM {table} ORDER BY 1"  # noqa: S608 (our own table names)
        assert _sqlite(path, query) == _sqlite(demo_template, query), table


def test_demo_data_is_a_stable_contract() -> None:
    """Other tests and the TUI snapshots name demo rows (member 350 is Nora Evans): changing the generator's
    random sequence renames everyone.  If this fails on purpose, update those tests and snapshots too."""
    rows = build_rows(1, TODAY).rows
    assert rows["members"][349][:3] == (350, "Nora", "Evans")
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    assert digest == "3ef39cad639964515d8c274d42535c26938467879d7c4eb246c1ca422f2c4260"


async def test_a_database_with_the_old_read_indexes_gets_them_rebuilt(tmp_path: Path) -> None:
    """Index definitions changed inside migration 1 reach databases made before through migration 4."""
    from gymconsole.db.connection import _statements
    from gymconsole.db.schema import MIGRATIONS

    path = tmp_path / "v3.db"
    conn = sqlite3.connect(path)
    try:
        for script in MIGRATIONS[:3]:  # a database made by version 3 (later migrations may not run twice)
            for statement in _statements(script):
                conn.execute(statement)
        conn.executescript("""
            DROP INDEX members_green;
            CREATE INDEX members_standing ON members (status, standing, membership_type, last_visit);
            DROP INDEX prospects_breakdown;
            CREATE INDEX prospects_breakdown ON prospects (stage, source);
            DROP INDEX invoices_status;
            PRAGMA user_version = 3;
        """)
    finally:
        conn.close()
    async with open_database(path) as db:
        assert await db.fetch_value("PRAGMA user_version") == SCHEMA_VERSION
        indexes = {r["name"]: r["sql"] for r in await db.fetch_all(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    assert "members_standing" not in indexes and {"members_green", "invoices_status"} <= set(indexes)
    assert "last_contacted" in indexes["prospects_breakdown"]


async def test_a_writer_waits_out_another_process_holding_the_write_lock_past_the_busy_timeout(tmp_path, monkeypatch):
    """A run's final status must not be lost to a slow writer elsewhere (a door controller call, a bulk load)."""
    import sqlite3
    import threading

    from gymconsole.db import connection

    monkeypatch.setattr(connection, "BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "busy.db"
    db = await Database.open(path, create=True)
    try:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process's long write
        release = threading.Timer(0.25, lambda: (other.execute("COMMIT"), other.close()))  # > one busy timeout
        release.start()
        try:
            async with db.write() as tx:
                await tx.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
        finally:
            release.join()
        assert await db.fetch_value("SELECT value FROM meta WHERE key = 'k'") == "v"
    finally:
        await db.close()
