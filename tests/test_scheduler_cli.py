"""`gymconsole scheduler` as a real process: SIGTERM mid-run stops cleanly (exit 0, the run finished or
cancelled, never left ``running``); SIGKILL mid-run leaves a run that the next start marks ``interrupted``."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakeapi import FakeAnthropicServer, Hang
from helpers_engine import KEY

from gymconsole.clock import SystemClock
from gymconsole.db import Database
from gymconsole.engine.history import HistoryStore

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "config.toml")

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")


def start(db: Path, *args: str, api: FakeAnthropicServer | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_") and k != "CLAUDE_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    if api is not None:
        env["ANTHROPIC_API_KEY"] = KEY
        env["ANTHROPIC_BASE_URL"] = api.base_url
    return subprocess.Popen([sys.executable, "-m", "gymconsole", "scheduler", *args, "--config", CONFIG, "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=db.parent,
                            stdin=subprocess.DEVNULL)


def read_until(proc: subprocess.Popen[str], needle: str, lines: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if needle in line:
            return
    raise AssertionError(f"{needle!r} never printed; got {lines}; stderr {proc.stderr.read() if proc.stderr else ''}")


def wait_until(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def runs(db: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, workflow, status FROM runs ORDER BY id").fetchall()


def test_sigterm_mid_request_cancels_the_run_and_exits_0(demo_path: Path, fake_api: FakeAnthropicServer) -> None:
    fake_api.script([Hang(60)])
    proc = start(demo_path, "--run-now", "referral_check", "--grace", "0.3", api=fake_api)
    try:
        lines: list[str] = []
        read_until(proc, "referral_check started (manual, claude)", lines)
        wait_until(lambda: len(fake_api.requests) >= 1)  # the run is inside its Claude request now
        assert runs(demo_path)[-1][2] == "running"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(lines) + out
    assert proc.returncode == 0, err
    assert "referral_check cancelled" in text and "stopping: waiting up to 0.3 s for run #" in text
    assert text.rstrip().endswith("stopped") and "Traceback" not in err
    assert runs(demo_path) == [(1, "referral_check", "cancelled")]
    assert KEY not in text + err
    files = [p for p in demo_path.parent.iterdir() if p.name.startswith(demo_path.name)]
    assert all(KEY.encode() not in p.read_bytes() for p in files)


def test_sigterm_lets_a_short_run_finish(demo_path: Path) -> None:
    proc = start(demo_path, "--offline", "--run-now", "referral_check", "--run-now", "invoice_review",
                 "--grace", "20")
    try:
        lines: list[str] = []
        read_until(proc, "started (manual, offline)", lines)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert sorted(status for _, _, status in runs(demo_path)) == ["succeeded", "succeeded"]
    text = "".join(lines) + out
    assert "referral_check succeeded" in text and "invoice_review succeeded" in text


def test_start_lists_next_runs_and_exit_after(demo_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "gymconsole", "scheduler", "--offline", "--exit-after", "0.1",
                           "--config", CONFIG, "--db", str(demo_path)],
                          capture_output=True, text=True, timeout=60, cwd=demo_path.parent,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "6 workflows, offline playbooks" in done.stdout and "door_access" in done.stdout
    assert "next " in done.stdout and done.stdout.rstrip().endswith("stopped")


def test_unknown_workflow_is_usage(demo_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "gymconsole", "scheduler", "--run-now", "nope",
                           "--config", CONFIG, "--db", str(demo_path)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and done.stderr.startswith("gymconsole: unknown workflow 'nope'")
    assert len(done.stderr.splitlines()) == 1


def test_sigkill_mid_run_leaves_an_interrupted_run(demo_path: Path, fake_api: FakeAnthropicServer) -> None:
    fake_api.script([Hang(60)])
    proc = start(demo_path, "--run-now", "door_access", api=fake_api)
    try:
        lines: list[str] = []
        read_until(proc, "door_access started", lines)
        wait_until(lambda: len(fake_api.requests) >= 1)
        proc.kill()  # SIGKILL: no handler, no cleanup
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert runs(demo_path) == [(1, "door_access", "running")]

    async def reopen() -> tuple[int, dict[str, object] | None, list[str]]:
        db = await Database.open(demo_path)
        try:
            store = HistoryStore(db, SystemClock())
            marked = await store.mark_interrupted()
            return marked, await store.get_run(1), [e.kind for e in await store.events(1)]
        finally:
            await db.close()

    marked, run, kinds = asyncio.run(reopen())
    assert marked == 1 and run is not None and run["status"] == "interrupted"
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
