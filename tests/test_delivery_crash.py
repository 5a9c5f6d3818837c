"""A sender killed with SIGKILL mid-batch, then restarted: nothing lost, nothing the server confirmed sent twice.

The child is the real command (``python -m gymconsole outbox send``) against
an SMTP server on 127.0.0.1, sending the whole queue as one batch in one
session.  The server counts what it received by Message-ID.  The one message
in flight at the kill (received, but its "250" never read) is sent again with
the same Message-ID (the documented at-least-once window); every message the
server confirmed is received exactly once, although the batch's outcome was
never committed: the sender's journal says which went.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_delivery import contactable_members, queue_messages, statuses
from servers import SmtpRecorder, start_smtp

from gymconsole.delivery.email import message_id

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
ROOT = Path(__file__).resolve().parent.parent


def _write_config(folder: Path, port: int) -> Path:
    path = folder / "delivery.toml"
    path.write_text(f"""
[database]
path = "gym.db"

[safety]
quiet_hours_start = "none"   # no quiet hours: the test runs at any time of day

[delivery]
email = "smtp"

[delivery.smtp]
host = "127.0.0.1"
port = {port}
security = "none"
from_address = "desk@gym.test"
timeout_seconds = 10
""", encoding="utf-8")
    return path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GYMCONSOLE_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _start(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gymconsole", "outbox", "send", "--once", "--config", str(config)],
                            cwd=config.parent, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, child: subprocess.Popen[str], what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if child.poll() is not None:
            raise AssertionError(f"the sender exited before {what}: {child.communicate()}")
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _kill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL


async def test_killed_while_the_server_holds_a_message_then_restarted(demo_db, demo_path, clock) -> None:
    recorder = SmtpRecorder()
    recorder.hold_after = 2  # the third message is received, but the sender never hears "250"
    controller = start_smtp(recorder)
    try:
        config = _write_config(demo_path.parent, controller.port)
        ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 6))
        child = _start(config)
        _wait_for(recorder.held.is_set, child, "the third message")
        _kill(child)
        recorder.release.set()

        rows = await statuses(demo_db, ids)
        assert [rows[i]["status"] for i in ids] == ["sending"] * 6  # one batch, claimed together
        assert rows[ids[2]]["claimed_by"].endswith(f":{child.pid}")
        journals = list(demo_path.parent.glob("gym.db.outbox-*.sent"))
        assert len(journals) == 1

        again = subprocess.run([sys.executable, "-m", "gymconsole", "outbox", "send", "--once", "--config",
                                str(config)], cwd=config.parent, env=_env(), capture_output=True, text=True,
                               timeout=60)
    finally:
        recorder.release.set()
        controller.stop()
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("sent 4, retrying 0, failed 0, opted out 0, resumed 4 interrupted")
    rows = await statuses(demo_db, ids)
    assert all(rows[i]["status"] == "sent" for i in ids)
    # the confirmed two were not sent again; the one in flight spent an attempt; the three never offered did not
    assert [rows[i]["attempts"] for i in ids] == [1, 1, 2, 1, 1, 1]
    assert not list(demo_path.parent.glob("gym.db.outbox-*.sent"))
    expected = [message_id(rows[i]["effect_key"], "desk@gym.test") for i in ids]
    received = recorder.message_ids()
    assert sorted(set(received)) == sorted(expected)  # nothing lost; one delivery per Message-ID
    assert len(received) == 7 and received.count(expected[2]) == 2  # the in-flight one, resent with its Message-ID


async def test_repeated_kills_lose_nothing(demo_db, demo_path, clock) -> None:
    recorder = SmtpRecorder()
    controller = start_smtp(recorder)
    kills = 0
    try:
        config = _write_config(demo_path.parent, controller.port)
        ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 8))
        for target in (2, 5):
            child = _start(config)
            _wait_for(lambda t=target: len(recorder.messages) >= t, child, f"{target} messages")
            _kill(child)
            kills += 1
        final = subprocess.run([sys.executable, "-m", "gymconsole", "outbox", "send", "--once", "--config",
                                str(config)], cwd=config.parent, env=_env(), capture_output=True, text=True, timeout=60)
    finally:
        controller.stop()
    assert final.returncode == 0, final.stderr
    rows = await statuses(demo_db, ids)
    assert all(rows[i]["status"] == "sent" for i in ids)
    expected = {message_id(rows[i]["effect_key"], "desk@gym.test") for i in ids}
    received = recorder.message_ids()
    assert set(received) == expected
    assert len(received) - len(expected) <= kills  # at most the one in flight per kill was sent again
