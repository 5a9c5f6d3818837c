"""`gymconsole run` in a real subprocess: offline and against the fake API, live output, --json, exit codes."""

from __future__ import annotations

import json
import os
import signal
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakeapi import Hang, Reply, Status, Text, ToolUse, Usage
from helpers_engine import KEY

from gymconsole.cli.run import parse_answer
from gymconsole.tools.base import ActionPlan, PlanItem

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "config.toml")
JSON_KEYS = {"run_id", "workflow", "status", "mode", "dry_run", "iterations", "tool_calls", "usage", "cost_usd",
             "summary", "error", "acts", "attention", "resume_at"}


def _env(api=None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ANTHROPIC_") and k not in ("CLAUDE_API_KEY",)}
    env["PYTHONPATH"] = str(ROOT)
    env["COLUMNS"] = "200"
    if api is not None:
        env["ANTHROPIC_API_KEY"] = KEY
        env["ANTHROPIC_BASE_URL"] = api.base_url
    return env | extra


def _gymconsole(*args: str, db: Path, api=None, cwd: Path, timeout: float = 60,
                **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gymconsole", *args, "--config", CONFIG, "--db", str(db)],
                          capture_output=True, text=True, env=_env(api, **env), cwd=cwd, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_offline_json_shape(demo_path, tmp_path):
    done = _gymconsole("run", "referral_check", "--offline", "--json", db=demo_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == JSON_KEYS
    assert result["mode"] == "offline" and result["status"] == "succeeded" and result["workflow"] == "referral_check"
    assert result["summary"].startswith("Offline playbook (no AI)")
    assert result["usage"] == {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}
    assert result["tool_calls"] and all(set(c) == {"name", "is_error", "risk", "decision"} for c in result["tool_calls"])
    assert set(result["acts"]) == {"done", "skipped", "denied", "pending", "failed"}
    assert result["attention"] is None and result["resume_at"] is None
    assert done.stderr == ""


def test_offline_live_output_and_approve_no(demo_path, tmp_path):
    done = _gymconsole("run", "door_access", "--offline", "--approve", "no", db=demo_path, cwd=tmp_path)
    out = done.stdout
    assert "▶ Door access" in out and "offline playbook (no AI)" in out
    assert "→ look up door access" in out and "✓ look up door access" in out
    assert "■ " in out and "summary: Offline playbook (no AI)" in out
    if "approval #" in out:  # members are due a door change: a person was asked and --approve no said no
        assert "denied by" in out and "at the terminal" in out and "suspended 0" not in out
    assert done.returncode == (0 if "■ succeeded" in out else 1), out + done.stderr


def test_ask_without_a_terminal_answers_no(demo_path, tmp_path):
    done = _gymconsole("run", "door_access", "--offline", "--json", db=demo_path, cwd=tmp_path)
    result = json.loads(done.stdout)
    decisions = {c["decision"] for c in result["tool_calls"] if c["decision"]}
    assert decisions <= {"denied"}
    assert result["status"] == "succeeded" and done.returncode == 0


def test_dry_run_flag(demo_path, tmp_path):
    done = _gymconsole("run", "referral_check", "--offline", "--dry-run", "--json", db=demo_path, cwd=tmp_path)
    assert json.loads(done.stdout)["dry_run"] is True


def test_usage_errors_exit_2_with_one_line(demo_path, tmp_path):
    unknown = _gymconsole("run", "nope", "--offline", db=demo_path, cwd=tmp_path)
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.strip().startswith("gymconsole: unknown workflow 'nope'; known: daily_campaigns")
    assert len(unknown.stderr.strip().splitlines()) == 1
    missing = _gymconsole("run", "door_access", "--offline", db=tmp_path / "absent.db", cwd=tmp_path)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "Traceback" not in missing.stderr


def test_claude_run_against_the_fake_api(demo_path, tmp_path, fake_api):
    fake_api.script([
        Reply([Text("Checking [/vip] referrals [bold red]now[/bold red] [@click=app.quit]x[/].", chunks=4),
               ToolUse("get_referral_candidates", {"limit": 2})]),
        Reply([Text("No [/vip] rewards were due.")]),
    ])
    done = _gymconsole("run", "referral_check", db=demo_path, api=fake_api, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Checking [/vip] referrals [bold red]now[/bold red] [@click=app.quit]x[/]." in done.stdout
    assert "summary: No [/vip] rewards were due." in done.stdout
    assert "Claude claude-sonnet-4-6" in done.stdout and re.search(r"AI cost \$[0-9.]+", done.stdout)
    assert KEY not in done.stdout + done.stderr
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake_api.requests)
    assert KEY not in fake_api.text_of_all_requests()
    assert KEY not in demo_path.read_bytes().decode("latin-1")


def test_claude_json_and_failure_exit_1(demo_path, tmp_path, fake_api):
    fake_api.script([Reply([Text("Done.")], usage=Usage(10, 5)), Status(401)])
    # ANTHROPIC_LOG=debug would make the SDK log whole requests (member data) and headers: it must not
    ok = _gymconsole("run", "invoice_review", "--json", db=demo_path, api=fake_api, cwd=tmp_path, ANTHROPIC_LOG="debug")
    assert "Request options" not in ok.stderr and "Task:" not in ok.stderr and KEY not in ok.stderr, ok.stderr
    assert "deprecated" not in ok.stderr
    result = json.loads(ok.stdout)
    assert ok.returncode == 0 and result["mode"] == "claude" and result["summary"] == "Done."
    assert result["usage"] == {"input": 10, "output": 5, "cache_read": 0, "cache_write": 0} and result["cost_usd"] > 0
    failed = _gymconsole("run", "invoice_review", "--json", db=demo_path, api=fake_api, cwd=tmp_path)
    result = json.loads(failed.stdout)
    assert failed.returncode == 1 and result["status"] == "failed" and "refused the key" in result["error"]
    assert KEY not in failed.stdout + failed.stderr


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process is POSIX")
def test_sigint_cancels_the_run_and_exits_130(demo_path, tmp_path, fake_api):
    fake_api.script([Hang(30)])
    proc = subprocess.Popen([sys.executable, "-m", "gymconsole", "run", "referral_check", "--config", CONFIG,
                             "--db", str(demo_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(fake_api), cwd=tmp_path, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not fake_api.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake_api.requests, "the run never reached the API"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out + err
    assert "■ cancelled" in out and "Traceback" not in err
    import sqlite3

    with sqlite3.connect(demo_path) as conn:
        statuses = [row[0] for row in conn.execute("SELECT status FROM runs")]
    assert statuses == ["cancelled"]


def test_parse_answer():
    plan = ActionPlan("suspend_door_access", "Suspend door access", "high",
                      [PlanItem(12, "A B", "k12"), PlanItem(15, "C D", "k15")], [], {})
    assert parse_answer("y", plan, "me").status == "approved"
    denied = parse_answer("n they paid in cash", plan, "me")
    assert denied.status == "denied" and denied.reason == "they paid in cash"
    some = parse_answer("#15", plan, "me")
    assert some.status == "partial" and some.approved_keys == frozenset({"k15"})
    assert parse_answer("12, 99", plan, "me") == "not in this plan: 99"
    assert isinstance(parse_answer("maybe", plan, "me"), str)


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")
def test_ask_prompts_on_a_terminal(demo_path, tmp_path):
    import pty
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "gymconsole", "run", "door_access", "--offline", "--config", CONFIG,
                             "--db", str(demo_path)], stdin=slave, stdout=slave, stderr=slave, env=_env(),
                            cwd=tmp_path, close_fds=True)
    os.close(slave)
    answers = [b"maybe\n", b"n not today\n"]  # a bad answer is asked again; then no, with a reason
    seen, answered = b"", 0
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if seen.count(b"Approve?") > answered:
                os.write(master, answers[answered] if answered < len(answers) else b"n\n")
                answered += 1
            if proc.poll() is not None and not ready:
                break
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = seen.decode(errors="replace")
    assert answered >= 2, text
    assert "Suspend door access" in text and "days past due" in text  # the plan: people, amounts
    assert "answer y, n" in text and "denied by" in text and "not today" in text
    assert proc.returncode == 0, text
