"""``gymconsole init`` and ``gymconsole tool``: exit codes, one-line errors, acts only with --yes, no SDK import."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gymconsole.cli import main
from gymconsole.db.demo import FIXED

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "config.toml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--config", CONFIG])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, phrase: str) -> None:
    assert err.startswith("gymconsole: ") and err.count("\n") == 1 and phrase in err, err


def value(path: Path, sql: str, params: tuple[Any, ...] = ()) -> Any:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(sql, params).fetchone()
        return None if row is None else row[0]
    finally:
        conn.close()


@pytest.fixture
def gym(tmp_path: Path, demo_template: Path) -> Path:
    path = tmp_path / "gym.db"
    shutil.copyfile(demo_template, path)
    return path


# --- init -------------------------------------------------------------------------------------------------------


def test_init_creates_an_empty_database_and_refuses_to_overwrite(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new.db"
    code, out, err = run(capsys, "init", "--db", str(path))
    assert code == 0 and err == "" and out.count("\n") == 1 and "empty database" in out
    assert value(path, "SELECT COUNT(*) FROM members") == 0
    assert value(path, "PRAGMA user_version") >= 2
    before = path.read_bytes()
    code, out, err = run(capsys, "init", "--demo", "--db", str(path))
    assert code == 2 and out == ""
    one_line_error(err, "--force")
    assert path.read_bytes() == before


def test_init_force_replaces_with_a_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gym.db"
    path.write_bytes(b"an old file")
    Path(f"{path}-wal").write_bytes(b"stale wal")
    code, out, _ = run(capsys, "init", "--demo", "--force", "--db", str(path), "--today", "2026-11-02", "--scale", "2")
    assert code == 0 and out.count("\n") == 1 and "840 members" in out and "scale 2" in out
    assert value(path, "SELECT value FROM meta WHERE key = 'scale'") == "2"
    assert value(path, "SELECT COUNT(*) FROM prospects WHERE stage IN ('new','contacted','toured','trial')") == 7664


@pytest.mark.parametrize(("argv", "phrase"), [
    (["--scale", "3"], "only apply with --demo"),
    (["--demo", "--scale", "0"], "--scale must be"),
    (["--demo", "--today", "yesterday"], "--today"),
    (["--db", "/nonexistent/folder/gym.db"], "no such folder"),
])
def test_init_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], phrase: str) -> None:
    if "--db" not in argv:
        argv = [*argv, "--db", str(tmp_path / "gym.db")]
    code, out, err = run(capsys, "init", *argv)
    assert code == 2 and out == ""
    one_line_error(err, phrase)
    assert not (tmp_path / "gym.db").exists()


# --- tool -------------------------------------------------------------------------------------------------------


def test_tool_prints_the_json_result(gym: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tool", "get_member", json.dumps({"member_id": FIXED["injection_member"]}),
                         "--db", str(gym))
    assert code == 0 and err == ""
    member = json.loads(out)["member"]
    assert member["name"] == "Siobhan O'Brien [/vip]" and member["balance"] == 2480.0
    code, out, _ = run(capsys, "tool", "get_ppv_members", "--db", str(gym))
    assert code == 0 and json.loads(out)["count"] == 117


@pytest.mark.parametrize(("argv", "phrase"), [
    (["tool", "unlock_everything", "{}"], "unknown tool 'unlock_everything'"),
    (["tool", "get_member", "{member_id: 1}"], "not valid JSON"),
    (["tool", "get_member", "[1, 2]"], "must be a JSON object"),
    (["tool", "suspend_door_access", '{"member_ids": [2]}'], "--yes"),
    (["tool", "escalate_to_collections", '{"member_ids": [1]}'], "--yes"),
])
def test_tool_usage_errors_exit_2(gym: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                  phrase: str) -> None:
    code, out, err = run(capsys, *argv, "--db", str(gym))
    assert code == 2 and out == ""
    one_line_error(err, phrase)
    assert value(gym, "SELECT COUNT(*) FROM audit_log") == 0
    assert value(gym, "SELECT access_state FROM door_credentials WHERE member_id = 2") == "active"


@pytest.mark.parametrize(("args", "phrase"), [
    ({"member_id": 999_999}, "no member"),
    ({"member_id": "one"}, "member_id"),
    ({"member": 1}, "unknown argument"),
])
def test_tool_error_results_exit_1(gym: Path, capsys: pytest.CaptureFixture[str], args: dict[str, Any],
                                   phrase: str) -> None:
    code, out, err = run(capsys, "tool", "get_member", json.dumps(args), "--db", str(gym))
    assert code == 1 and err == ""
    assert phrase in json.loads(out)["error"]


def test_an_act_with_yes_is_approved_by_the_os_user_once(gym: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["tool", "suspend_door_access", json.dumps({"member_ids": [FIXED["markup_member"]]}), "--db", str(gym), "--yes"]
    code, out, err = run(capsys, *argv)
    assert code == 0 and err == "" and json.loads(out)["done_count"] == 1
    assert value(gym, "SELECT access_state FROM door_credentials WHERE member_id = ?", (FIXED["markup_member"],)) \
        == "suspended"
    conn = sqlite3.connect(gym)
    try:
        audit = conn.execute("SELECT decision, actor, via, tool FROM audit_log").fetchall()
    finally:
        conn.close()
    assert audit == [("approved", getpass.getuser(), "cli", "suspend_door_access")]
    code, out, _ = run(capsys, *argv)
    assert code == 0 and json.loads(out)["done_count"] == 0
    assert value(gym, "SELECT COUNT(*) FROM door_changes WHERE member_id = ?", (FIXED["markup_member"],)) == 1


def test_dry_run_changes_nothing_and_needs_no_yes(gym: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tool", "suspend_door_access", json.dumps({"member_ids": [2, 10, 999]}),
                       "--db", str(gym), "--dry-run")
    result = json.loads(out)
    assert code == 0 and result["dry_run"] is True and result["would_do_count"] == 1
    assert {s["id"] for s in result["skipped"]} == {10, 999}  # frozen, and no such member
    assert value(gym, "SELECT COUNT(*) FROM door_changes WHERE run_id IS NOT NULL OR effect_key LIKE 'manual:%'") == 0
    assert value(gym, "SELECT access_state FROM door_credentials WHERE member_id = 2") == "active"


def test_a_policy_deny_holds_even_with_yes(gym: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = Path(CONFIG).read_text(encoding="utf-8")
    line = 'policy = { safe = "auto", moderate = "auto", high = "ask" }'
    assert line in text
    strict = tmp_path / "strict.toml"
    strict.write_text(text.replace(line, 'policy = { safe = "auto", moderate = "auto", high = "deny" }'), encoding="utf-8")
    code = main(["tool", "suspend_door_access", '{"member_ids": [2]}', "--yes", "--db", str(gym), "--config", str(strict)])
    out, _ = capsys.readouterr()
    assert code == 1 and json.loads(out)["not_done"] == "denied"
    assert value(gym, "SELECT access_state FROM door_credentials WHERE member_id = 2") == "active"


def test_the_tool_command_never_imports_the_sdk(gym: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gymconsole", "tool", "get_member", '{"member_id": 1}',
         "--db", str(gym), "--config", CONFIG], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["member"]["id"] == 1
    imported = result.stderr
    assert "gymconsole.tools.registry" in imported  # the import log is really there
    assert "anthropic" not in imported and "textual" not in imported
