"""One scheduler per database, with real processes and compressed time.

Two headless schedulers and a console's scheduler (this test process, the same
code the console starts) share one database, with schedules every few seconds
and a two-second lease.  Each scheduled time runs exactly once; after SIGKILL
of the holder another takes over within the lease and no scheduled time is lost
or run twice.  A pause set by a process that does not hold the lease is
honoured by the holder.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gymconsole.config import load_config
from gymconsole.engine.services import open_services

ROOT = Path(__file__).resolve().parent.parent
EVERY = 2
"""Seconds between two scheduled times of the fast workflows."""
FAST = ("door_access", "referral_check")

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")


def compressed_config(folder: Path, db: Path, *, lease_seconds: float = 2) -> Path:
    """The shipped config with two workflows due every EVERY seconds, the rest disabled, a short lease."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^lease_seconds = .*$", f"lease_seconds = {lease_seconds}", text)
    text = text.replace("misfire_grace_seconds = 300", "misfire_grace_seconds = 30")
    text = re.sub(r'path = "gym.db"', f"path = {str(db)!r}", text)

    def schedule(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in FAST:
            return f'[workflows.{name}]\n{match.group(2)}schedule = {{ second = "*/{EVERY}", minute = "*" }}\n'
        return f'[workflows.{name}]\n{match.group(2)}enabled = false\n{match.group(3)}\n'

    text = re.sub(r"\[workflows\.(\w+)\]\n(title = .*\n)(schedule = .*)\n", schedule, text)
    path = folder / "fast.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def start_service(config: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_") and k != "CLAUDE_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gymconsole", "scheduler", "--offline", "--dry-run", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
        env=env, cwd=config.parent)


def lease_row(db: Path) -> dict[str, object] | None:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM scheduler_lease").fetchone()
        return dict(row) if row else None


async def until(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def test_two_services_and_a_console_fire_each_time_once_and_take_over_after_sigkill(
        demo_path: Path, tmp_path: Path) -> None:
    config_path = compressed_config(tmp_path, demo_path)
    config = load_config(config_path)
    first = await start_service(config_path)
    services = [first]
    try:
        await until(lambda: (lease_row(demo_path) or {}).get("pid") == first.pid)
        second = await start_service(config_path)
        services.append(second)
        async with open_services(config, offline=True, dry_run=True) as console:
            await console.scheduler.start()
            assert not console.scheduler.lease.held  # the service holds the schedules
            await asyncio.sleep(2 * EVERY + 1)
            first.send_signal(signal.SIGKILL)
            await first.wait()
            killed_at = datetime.now(UTC)
            await until(lambda: (lease_row(demo_path) or {}).get("pid") != first.pid, timeout=10)
            taken = lease_row(demo_path)
            assert taken is not None and taken["pid"] in (second.pid, os.getpid())
            assert parse(str(taken["acquired_at"])) - killed_at <= timedelta(seconds=config.scheduler.lease_seconds)
            await asyncio.sleep(2 * EVERY + 1)
            await console.scheduler.shutdown()
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 30) == 0
        errors = (await second.stderr.read()).decode() if second.stderr else ""
        assert "Traceback" not in errors, errors
    finally:
        for proc in services:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    with sqlite3.connect(demo_path) as conn:
        fires = conn.execute("SELECT workflow, due_at, outcome FROM schedule_fires ORDER BY due_at").fetchall()
        scheduled = conn.execute("SELECT workflow, pid, status FROM runs WHERE trigger = 'schedule'").fetchall()
    for name in FAST:
        times = [parse(due) for workflow, due, _ in fires if workflow == name]
        gaps = {(b - a).total_seconds() for a, b in zip(times, times[1:])}
        assert len(times) >= 4 and gaps == {EVERY}, (name, times)  # no scheduled time lost, before or after the kill
        runs = [row for row in scheduled if row[0] == name]
        assert len(runs) == len(times)  # and none run twice
    outcomes = {outcome for _, _, outcome in fires}
    assert outcomes == {"run"}
    pids = {pid for _, pid, _ in scheduled}
    assert first.pid in pids and pids - {first.pid}  # the holder ran them, then the process that took over
