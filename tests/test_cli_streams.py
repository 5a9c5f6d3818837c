"""Any console encoding, any pipe: as Windows' Task Scheduler and `| head` use gymconsole."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "config.toml")


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_") and k != "CLAUDE_API_KEY"}
    return {**base, "PYTHONPATH": str(ROOT), **extra}


def command(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "gymconsole", *args, "--config", CONFIG, "--db", str(db)]


def statuses(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT status FROM runs ORDER BY id")]


def test_a_cp1252_console_gets_every_line_with_what_it_cannot_show_replaced(demo_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.out"
    with out.open("wb") as sink:
        done = subprocess.run(command(demo_path, "run", "past_due_monitoring", "--offline", "--dry-run"),
                              stdout=sink, stderr=subprocess.PIPE, env=env(PYTHONIOENCODING="cp1252"), timeout=120)
    errors = done.stderr.decode("cp1252")
    assert done.returncode == 0, errors
    assert "UnicodeEncodeError" not in errors and "failed on" not in errors and errors == ""
    text = out.read_bytes().decode("cp1252")  # it is cp1252, as the console asked
    lines = text.splitlines()
    assert lines[0].startswith("? Past-due monitoring \xb7 run #1")  # ▶ is not in cp1252; the middle dot is
    assert len(lines) > 5 and "succeeded" in text and "summary:" in text
    assert statuses(demo_path) == ["succeeded"]


def test_a_reader_that_closes_early_stops_the_printing_not_the_run(demo_path: Path) -> None:
    proc = subprocess.Popen(command(demo_path, "run", "door_access", "--offline", "--dry-run", "--approve", "no"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head -0`: the reader is gone before the first line
    errors = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, errors
    assert errors == ""  # no traceback, no BrokenPipeError, no "Exception ignored"
    assert statuses(demo_path) == ["succeeded"]  # finished and recorded truthfully


def test_json_into_a_closed_pipe_ends_quietly(demo_path: Path) -> None:
    proc = subprocess.Popen(command(demo_path, "workflows", "--json"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env(), stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head -0`: gone before the first write (the process takes a while to start)
    errors = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and errors == "", errors
    full = subprocess.run(command(demo_path, "workflows", "--json"), capture_output=True, env=env(), timeout=120)
    assert len(json.loads(full.stdout)) == 6
