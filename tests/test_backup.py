"""`gymconsole backup`: a consistent copy while runs are being written; daily copies kept for keep_days."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gymconsole.backup import backup_name, daily_backup
from gymconsole.cli import main

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "config.toml")


def finished_runs(db: Path) -> set[int]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM runs WHERE status != 'running'")}


def test_a_backup_taken_during_runs_is_whole_and_has_every_committed_run(demo_path: Path, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}, "PYTHONPATH": str(ROOT)}
    runs = subprocess.Popen([sys.executable, "-m", "gymconsole", "scheduler", "--offline", "--dry-run",
                             *[arg for name in ("door_access", "past_due_monitoring", "invoice_review", "referral_check")
                               for arg in ("--run-now", name)], "--exit-after", "30", "--config", CONFIG,
                             "--db", str(demo_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True)
    try:
        assert runs.stdout is not None
        for line in runs.stdout:  # wait until runs are being written
            if "started (manual" in line:
                break
        deadline = time.monotonic() + 30
        while not finished_runs(demo_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        committed = finished_runs(demo_path)
        assert committed, "no run finished"
        copy = tmp_path / "copy.db"
        assert main(["backup", str(copy), "--config", CONFIG, "--db", str(demo_path)]) == 0
    finally:
        runs.terminate()
        runs.communicate(timeout=60)
    assert "integrity ok" in capsys.readouterr().out
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copied = {row[0] for row in conn.execute("SELECT id FROM runs")}
        events = conn.execute("SELECT COUNT(*) FROM run_events").fetchone()[0]
    assert committed <= copied and events > 0
    if os.name == "posix":
        assert copy.stat().st_mode & 0o777 == 0o600


def test_backup_refuses_to_overwrite(demo_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "there.db"
    existing.write_bytes(b"keep me")
    assert main(["backup", str(existing), "--config", CONFIG, "--db", str(demo_path)]) == 2
    assert existing.read_bytes() == b"keep me"
    err = capsys.readouterr().err
    assert err.startswith("gymconsole: ") and "already exists" in err and len(err.splitlines()) == 1


def test_daily_copies_are_made_once_a_day_and_kept_for_keep_days(demo_path: Path) -> None:
    today = datetime(2026, 11, 30, 3, 30)
    folder = demo_path.parent / "backups"
    folder.mkdir()
    for age in (20, 15, 13):
        (folder / backup_name(demo_path, today - timedelta(days=age))).write_bytes(b"old")
    (folder / "notes-20200101-000000.db").write_bytes(b"not ours")
    made, pruned = daily_backup(demo_path, 14, today)
    assert made is not None and made.name.endswith("-20261130-033000.db")
    assert sorted(p.name[-18:] for p in pruned) == ["20261110-033000.db", "20261115-033000.db"]
    again, _ = daily_backup(demo_path, 14, today + timedelta(hours=1))
    assert again is None  # one a day
    assert sorted(p.name[-18:] for p in folder.iterdir()) == ["20200101-000000.db", "20261117-033000.db",
                                                              "20261130-033000.db"]
