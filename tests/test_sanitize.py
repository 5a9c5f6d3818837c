"""Hostile text at every output edge: control characters, bidi overrides and zero-width characters are shown, not obeyed.

A member is renamed to a name that clears the screen, retitles the window,
hides text and writes the clipboard; the model streams a partial OSC 52.
Wherever a person or a log reads it, no raw escape reaches them and the
oddity is visible (``␛[2J``, ``⟨U+202E⟩``).
"""

from __future__ import annotations

import io
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakeapi import Reply, Text, ToolUse
from helpers_delivery import smtp_settings, with_alerts, with_delivery
from helpers_engine import KEY
from servers import JsonServer, SmtpRecorder, start_smtp

from gymconsole.cli import main
from gymconsole.cli.common import setup_logging
from gymconsole.delivery.alerts import AlertNotifier
from gymconsole.present.sanitize import header_safe, is_clean, visible

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "config.toml")
HOSTILE_FIRST = "Eve\x1b[2J\x1b]0;pwned\x07\x1b[8m"
HOSTILE_LAST = "\u202eKCAB\u200bHidden\x1b]52;c;SGk="
HOSTILE = f"{HOSTILE_FIRST} {HOSTILE_LAST}"
SHOWN = ("␛[2J", "␛]0;pwned␇", "⟨U+202E⟩KCAB⟨U+200B⟩Hidden")


def assert_safe(text: str) -> None:
    """No raw control or invisible character, and the hostile name is visibly odd."""
    bad = [hex(ord(c)) for c in text if not is_clean(c) and c not in "\n\t"]
    assert not bad, f"raw control characters reached the output: {bad[:5]}"
    assert all(mark in text for mark in SHOWN), text[:2000]


def rename_member(db_path: Path, member_id: int = 1) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE members SET first_name = ?, last_name = ? WHERE id = ?",
                   [HOSTILE_FIRST, HOSTILE_LAST, member_id])


def test_visible_makes_every_odd_character_visible() -> None:
    assert visible("a\x1b[2Jb") == "a␛[2Jb"
    assert visible("x\x9b31m") == "x⟨U+009B⟩31m"  # C1 CSI
    assert visible("cod\u202eexe.doc") == "cod⟨U+202E⟩exe.doc"
    assert visible("Ann\u200b\u2066a\ufeff") == "Ann⟨U+200B⟩⟨U+2066⟩a⟨U+FEFF⟩"
    assert visible("one\ntwo\r\nthree\x7f") == "one␤two␍␤three␡"
    assert visible("one\ntwo\r\nthree\tx", multiline=True) == "one\ntwo\nthree\tx"
    assert visible("O'Brien [/vip] café 日本 😀") == "O'Brien [/vip] café 日本 😀"  # markup is another layer's job
    assert header_safe("Subject\r\nBcc: all@x", 40) == "Subject␍␤Bcc: all@x"
    assert visible(None) == "" and visible(42) == "42"


def test_cli_prompt_run_output_and_history_show(demo_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    rename_member(demo_path)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(sys, "stdin", io.StringIO("n not today\n"))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    code = main(["run", "door_access", "--offline", "--approve", "ask", "--config", CONFIG, "--db", str(demo_path)])
    out = capsys.readouterr().out
    assert code in (0, 1) and "Approve?" in out
    assert_safe(out)
    assert main(["history", "show", "1", "--config", CONFIG, "--db", str(demo_path)]) == 0
    assert_safe(capsys.readouterr().out)


def test_model_text_is_shown_not_obeyed_by_run(demo_path: Path, tmp_path: Path, fake_api: Any) -> None:
    fake_api.script([
        Reply([Text(f"Looking at {HOSTILE}\x1b]52;c;SGVsbG8", chunks=5), ToolUse("get_referral_candidates", {})]),
        Reply([Text(f"Done with {HOSTILE}.")]),
    ])
    env = {"PYTHONPATH": str(ROOT), "COLUMNS": "200", "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": fake_api.base_url,
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "gymconsole", "run", "referral_check", "--config", CONFIG,
                           "--db", str(demo_path)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert_safe(done.stdout)
    assert "␛]52;c;SGVsbG8" in done.stdout


def test_the_log_file_shows_control_characters(config: Any, tmp_path: Path) -> None:
    setup_logging(config, terminal=False)
    try:
        logging.getLogger("gymconsole.test").warning("member %s did something", HOSTILE)
    finally:
        for handler in logging.getLogger().handlers:
            handler.flush()
    text = (config.database_path().parent / "gymconsole.log").read_text(encoding="utf-8")
    assert_safe(text)


async def test_alert_bodies_and_email_headers(demo_db: Any, config: Any, clock: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    webhook = JsonServer().start()
    recorder = SmtpRecorder()
    smtp = start_smtp(recorder)
    monkeypatch.setenv("GYMCONSOLE_SLACK_WEBHOOK", webhook.url + "/hook")
    try:
        cfg = with_alerts(with_delivery(config, smtp=smtp_settings(smtp.port)), email_to=["manager@gym.test"])
        alerts = AlertNotifier(demo_db, cfg, clock)
        line = await alerts.failure_line(7, "door_access", "failed", f"the model said {HOSTILE}")
        assert await alerts.send(line)
    finally:
        smtp.stop()
        webhook.close()
    assert_safe(webhook.requests[0].json["text"])
    assert_safe(recorder.messages[0].subject + "\n" + recorder.messages[0].body.replace("\r\n", "\n"))
