"""An import killed with SIGKILL in the middle of its transaction leaves the database exactly as it was."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gymconsole.cli import main

ROOT = Path(__file__).resolve().parent.parent
ROWS = 20_000


def members_file(path: Path, rows: int, balance: str) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        out.write("member_id,first_name,last_name,status,join_date,balance\n")
        for n in range(rows):
            out.write(f"M{n},First{n},Last{n},Active,2025-01-01,{balance}\n")
    return path


def gymconsole(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "gymconsole", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def holds_write_lock(db: Path) -> bool:
    """Whether another process is inside a write transaction now (BEGIN IMMEDIATE fails at once)."""
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_import_leaves_the_database_as_it_was(tmp_path):
    db = tmp_path / "gym.db"
    options = ["--config", str(ROOT / "config.toml"), "--db", str(db)]
    assert main(["init", *options]) == 0
    first = members_file(tmp_path / "members.csv", 100, "10.00")
    assert main(["import", "members", str(first), *options]) == 0
    before = sqlite3.connect(db).execute("SELECT COUNT(*), SUM(balance_cents) FROM members").fetchone()
    second = members_file(tmp_path / "members-2.csv", ROWS, "20.00")
    importer = gymconsole("import", "members", str(second), *options)
    try:
        deadline = time.monotonic() + 120
        while not holds_write_lock(db):  # parsed and staged; now applying inside its one transaction
            assert importer.poll() is None, "the import finished before it could be caught mid-transaction"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        os.kill(importer.pid, signal.SIGKILL)
        importer.wait(30)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*), SUM(balance_cents) FROM members").fetchone() == before == (100, 100_000)
        assert conn.execute("SELECT COUNT(*) FROM imports").fetchone()[0] == 1
    finally:
        conn.close()
    assert main(["import", "members", str(first), *options]) == 0  # the database works on


def test_a_reader_sees_the_table_as_before_or_after_never_half_imported(tmp_path):
    """A workflow's reads (the console's own Database, another connection) during an import in another process."""
    import asyncio

    from gymconsole.db import Database

    db = tmp_path / "gym.db"
    options = ["--config", str(ROOT / "config.toml"), "--db", str(db)]
    assert main(["init", *options]) == 0
    assert main(["import", "members", str(members_file(tmp_path / "members.csv", 100, "10.00")), *options]) == 0
    second = members_file(tmp_path / "members-2.csv", ROWS, "20.00")

    async def watch() -> tuple[set[tuple[int, int]], int]:
        seen: set[tuple[int, int]] = set()
        during = 0
        reader = await Database.open(db)
        importer = gymconsole("import", "members", str(second), *options)
        try:
            deadline = time.monotonic() + 120
            while importer.poll() is None:
                assert time.monotonic() < deadline
                locked = holds_write_lock(db)
                row = await reader.fetch_one("SELECT COUNT(*) AS n, SUM(balance_cents) AS total FROM members")
                seen.add((row["n"], row["total"]))
                during += locked
                await asyncio.sleep(0.002)
            row = await reader.fetch_one("SELECT COUNT(*) AS n, SUM(balance_cents) AS total FROM members")
            seen.add((row["n"], row["total"]))
        finally:
            if importer.poll() is None:
                importer.kill()
            importer.wait()
            await reader.close()
        assert importer.returncode == 0, importer.stderr.read() if importer.stderr else ""
        return seen, during

    seen, during = asyncio.run(watch())
    assert during > 0, "never read while the import held its transaction"
    assert seen == {(100, 100_000), (ROWS, ROWS * 2000)}
