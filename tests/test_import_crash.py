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
