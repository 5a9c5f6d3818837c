"""Exactly once across a crash: a real ``gymconsole run`` killed with SIGKILL right after (or right before the
commit of) its first act, then run again, does every act exactly once: no message sent twice, no account
escalated twice, no door toggled twice.

The child process is ``tests/helpers_safety.py`` (a test-only hook around the real CLI) so nothing in the
product knows about the test.  Each run is compared with an uninterrupted run on a copy of the same database.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers_safety import ROOT, build_world, count, gymconsole_env, rows

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX only")]

HELPER = Path(__file__).parent / "helpers_safety.py"
ACTS = {
    "door_access": "SELECT member_id, action, COUNT(*) FROM door_changes WHERE run_id IS NOT NULL "
                   "GROUP BY member_id, action ORDER BY 1, 2",
    "past_due_monitoring": "SELECT person_id, kind, COUNT(*) FROM outbox WHERE run_id IS NOT NULL "
                           "GROUP BY person_id, kind ORDER BY 1, 2",
    "daily_escalation": "SELECT member_id, 'collections', COUNT(*) FROM collections WHERE run_id IS NOT NULL "
                        "GROUP BY member_id ORDER BY 1",
}


CAP = 20
"""Most targets an offline playbook acts on in one run: the comparison with an uninterrupted run needs
every due act to fit in one run (the rerun after a crash must not reach members the control run left)."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A demo database dated today (the child runs on the real clock) and a config without quiet hours whose
    suspension threshold (40 days) leaves fewer than CAP members to suspend."""
    return build_world(tmp_path_factory.mktemp("kill"), suspend_after_days=40)


def gymconsole(args: list[str], *, hook: str | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, str(HELPER), hook, *args] if hook else [sys.executable, "-m", "gymconsole", *args]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=gymconsole_env())


def run_args(workflow: str, db: Path, config: Path) -> list[str]:
    return ["run", workflow, "--offline", "--approve", "yes", "--db", str(db), "--config", str(config)]


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"exit {proc.returncode}: {err[-2000:]}"
    return out


@pytest.mark.parametrize(("workflow", "hook"), [
    ("door_access", "after_commit"),
    ("door_access", "before_commit"),
    ("past_due_monitoring", "after_commit"),
    ("daily_escalation", "before_commit"),
])
def test_killed_mid_run_then_rerun_acts_exactly_once(world: tuple[Path, Path], tmp_path: Path, workflow: str,
                                                     hook: str) -> None:
    template, config = world
    control, crashed = tmp_path / "control.db", tmp_path / "crashed.db"
    shutil.copyfile(template, control)
    shutil.copyfile(template, crashed)
    reference = gymconsole(run_args(workflow, control, config))  # the uninterrupted run, meanwhile

    child = gymconsole(run_args(workflow, crashed, config), hook=hook)
    watchdog = threading.Timer(60, child.kill)  # whatever goes wrong, the test cannot hang on the child
    watchdog.start()
    try:
        assert child.stdout is not None
        for line in child.stdout:  # the live view, then ACTED from the hook
            if line.strip() == "ACTED":
                break
        else:
            pytest.fail(f"the child never acted: {child.communicate(timeout=10)[1][-2000:]}")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        watchdog.cancel()
    assert child.returncode == -signal.SIGKILL
    finish(reference)

    after_kill = rows(crashed, ACTS[workflow])
    assert len(after_kill) == (1 if hook == "after_commit" else 0)  # committed, or rolled back whole
    assert count(crashed, "SELECT COUNT(*) FROM effects WHERE status = 'pending'") == 0

    out = finish(gymconsole(run_args(workflow, crashed, config)))
    assert "succeeded" in out
    expected = rows(control, ACTS[workflow])
    assert expected and all(n == 1 for *_, n in expected)
    per_action = [sum(1 for row in expected if row[1] == action) for action in {row[1] for row in expected}]
    assert max(per_action) < CAP, "the control run must have done every due act"
    assert rows(crashed, ACTS[workflow]) == expected  # each act exactly once, the same acts as without the crash
    assert count(crashed, "SELECT status FROM runs WHERE id = 1") == "interrupted"
