"""`gymconsole history`, `history show` and `workflows`: tables, JSON, filters, exit codes, untrusted text."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import DEMO_NOW
from fakeclock import FakeClock
from helpers_engine import answer_yes, engine

from gymconsole.cli import main
from gymconsole.config import Config
from gymconsole.present.words import status_words

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "config.toml")


@pytest.fixture(scope="module")
def history_db(tmp_path_factory: pytest.TempPathFactory, repo_config: Config, demo_template: Path) -> dict[str, Any]:
    """The demo database after three offline runs (door_access touches the members with hostile names).

    Built once for the module: every test here only reads it.
    """
    path = tmp_path_factory.mktemp("cli_history") / "gym.db"
    shutil.copyfile(demo_template, path)
    config = repo_config.model_copy(update={"database": repo_config.database.model_copy(update={"path": str(path)})})
    clock = FakeClock(DEMO_NOW)

    async def fill() -> dict[str, Any]:
        async with engine(config, path, clock, offline=True, asker=answer_yes) as (services, _):
            door = await services.runner.run("door_access")
            clock.advance(86400)
            referral = await services.runner.run("referral_check")
            clock.advance(3600)
            invoice = await services.runner.run("invoice_review")
            await services.scheduler.pause("invoice_review")
        return {"door": door, "referral": referral, "invoice": invoice, "path": path}

    return asyncio.run(fill())


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args, "--config", CONFIG])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_list_table_and_json(history_db: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    db = str(history_db["path"])
    code, out, err = cli(capsys, "history", "--db", db)
    assert code == 0 and err == ""
    assert out.index("invoice_review") < out.index("referral_check") < out.index("door_access")
    code, out, _ = cli(capsys, "history", "--db", db, "--json")
    runs = json.loads(out)
    assert [r["workflow"] for r in runs] == ["invoice_review", "referral_check", "door_access"]
    assert {"id", "status", "started_at", "summary", "cost_usd", "input_tokens"} <= set(runs[0])


def test_filters_and_pages(history_db: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    db = str(history_db["path"])
    door, referral = history_db["door"], history_db["referral"]

    def ids(*args: str) -> list[int]:
        code, out, err = cli(capsys, "history", "--db", db, "--json", *args)
        assert code == 0, err
        return [r["id"] for r in json.loads(out)]

    assert ids("--workflow", "door_access") == [door.run_id]
    assert ids("--status", door.status, "--workflow", "door_access") == [door.run_id]
    assert ids("--member", "1") == [door.run_id]
    assert ids("--member", "999999") == []
    assert ids("--search", "referrals due") == [referral.run_id]
    assert ids("--since", "2026-11-03") == [history_db["invoice"].run_id, referral.run_id]
    assert ids("--since", "2026-11-03T10:30:00") == [history_db["invoice"].run_id]
    assert ids("--since", "2026-11-03T15:30:00+00:00") == [history_db["invoice"].run_id]
    assert ids("--limit", "1", "--before", str(referral.run_id)) == [door.run_id]
    code, out, _ = cli(capsys, "history", "--db", db, "--limit", "2")
    assert code == 0 and f"(more: --before {referral.run_id})" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "last tuesday"], "--since: cannot read"),
    (["--since", "2026-13-45"], "--since: cannot read"),
    (["--status", "exploded"], "--status: unknown status"),
    (["--limit", "0"], "--limit"),
])
def test_bad_options_are_one_line_exit_2(history_db: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                         args: list[str], message: str) -> None:
    code, out, err = cli(capsys, "history", "--db", str(history_db["path"]), *args)
    assert code == 2 and out == ""
    assert err.startswith("gymconsole: ") and message in err and len(err.strip().splitlines()) == 1


def test_show_prints_the_whole_trace_as_plain_text(history_db: dict[str, Any],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    door = history_db["door"]
    code, out, err = cli(capsys, "history", "show", str(door.run_id), "--db", str(history_db["path"]))
    assert code == 0 and err == ""
    assert out.startswith(f"Run #{door.run_id} Door access")
    assert "▶ Door access" in out and "→ look up door access" in out
    assert "tool get_door_access_status, risk safe" in out  # the raw identifiers stay in the detail
    assert "✓ look up door access" in out and " ms)" in out and "result {" in out
    assert "approval #" in out and "approved by tester at the terminal" in out and "[approved]" in out
    assert f"■ {door.status}" in out
    # Hostile names from the demo data come out literally (never as Rich markup).
    assert "Siobhan O'Brien [/vip]" in out and "[@click=app.quit]click me[/] Markup" in out
    order = [out.index(s) for s in ("▶ ", "→ look up door access", "✓ look up door access",
                                     "approval #", "■ ")]
    assert order == sorted(order)


def test_show_json_and_unknown_run(history_db: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    db = str(history_db["path"])
    referral = history_db["referral"]
    code, out, _ = cli(capsys, "history", "show", str(referral.run_id), "--db", db, "--json")
    data = json.loads(out)
    assert code == 0 and data["run"]["id"] == referral.run_id and data["run"]["status"] == referral.status
    kinds = [e["kind"] for e in data["events"]]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert [e["seq"] for e in data["events"]] == list(range(1, len(kinds) + 1))
    code, out, err = cli(capsys, "history", "show", "99999", "--db", db)
    assert code == 1 and out == "" and err == "gymconsole: no run #99999\n"


def test_missing_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "history", "--db", str(tmp_path / "none.db"))
    assert code == 2 and "no database here" in err and len(err.splitlines()) == 1
    code, out, err = cli(capsys, "workflows", "--db", str(tmp_path / "none.db"))
    assert code == 2 and "no database here" in err


def test_workflows(history_db: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    db = str(history_db["path"])
    code, out, err = cli(capsys, "workflows", "--db", db, "--json")
    assert code == 0 and err == ""
    rows = {r["name"]: r for r in json.loads(out)}
    assert list(rows) == ["daily_campaigns", "past_due_monitoring", "daily_escalation", "referral_check",
                          "invoice_review", "door_access"]
    assert rows["invoice_review"]["paused"] and not rows["door_access"]["paused"]
    assert rows["door_access"]["last_run_id"] == history_db["door"].run_id
    assert rows["door_access"]["last_status"] == history_db["door"].status
    assert rows["daily_campaigns"]["last_run_id"] is None
    assert rows["daily_campaigns"]["schedule"] == "0 6 * * *" and rows["daily_campaigns"]["timezone"]
    assert rows["daily_campaigns"]["next_run"].endswith(("-05:00", "-04:00")) and rows["daily_campaigns"]["enabled"]
    code, out, _ = cli(capsys, "workflows", "--db", db)
    assert code == 0 and "Past-due monitoring" in out and "PAUSED" in out and "never" in out


def test_workflows_fit_an_80_column_window_one_line_each(history_db: dict[str, Any],
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = cli(capsys, "workflows", "--db", str(history_db["path"]))
    lines = out.splitlines()
    assert code == 0 and max(len(line) for line in lines) <= 80, out
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in CONFIG_WORKFLOWS}
    assert list(rows) == list(CONFIG_WORKFLOWS), out  # each workflow on one line, none wrapped
    assert "daily 06:00" in rows["daily_campaigns"] and "every other Monday 10:00" in rows["referral_check"]
    assert "PAUSED" in rows["invoice_review"] and "never run" in rows["daily_campaigns"]
    assert status_words(history_db["door"].status) in rows["door_access"]
    assert "--json" in out  # where the columns left out are


CONFIG_WORKFLOWS = ("daily_campaigns", "past_due_monitoring", "daily_escalation", "referral_check", "invoice_review",
                    "door_access")


def test_no_sdk_on_the_read_paths(history_db: dict[str, Any]) -> None:
    script = ("import sys; from gymconsole.cli import main\n"
              "for args in (['history'], ['history', 'show', '1'], ['workflows']):\n"
              f"    assert main(args + ['--config', {CONFIG!r}, '--db', {str(history_db['path'])!r}]) == 0\n"
              "assert 'anthropic' not in sys.modules and 'textual' not in sys.modules, 'heavy import'\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("args", [
    ["history", "show", "99999999999999999999"],
    ["history", "--limit", "99999999999999999999"],
    ["history", "--member", "-3"],
    ["history", "--since", "999999999d"],
    ["approvals", "approve", "99999999999999999999"],
    ["approvals", "deny", "99999999999999999999", "--reason", "x"],
    ["approvals", "approve", "1", "--only", "99999999999999999999"],
    ["outbox", "--limit", "99999999999999999999"],
])
def test_out_of_range_numbers_are_one_line_exit_2(history_db: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                                  args: list[str]) -> None:
    code, out, err = cli(capsys, *args, "--db", str(history_db["path"]))
    assert code == 2 and out == ""
    assert err.startswith("gymconsole: ") and len(err.strip().splitlines()) == 1, err


def test_search_finds_people_by_name_and_id(history_db: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    db = str(history_db["path"])
    door = history_db["door"]
    for words in ("Wright", "lena wright", "362", "#362"):
        code, out, _ = cli(capsys, "history", "--search", words, "--db", db, "--json")
        assert code == 0 and door.run_id in [run["id"] for run in json.loads(out)], words
    code, out, _ = cli(capsys, "history", "--search", "Nobody Nowhere", "--db", db, "--json")
    assert json.loads(out) == []


def test_a_listing_writes_nothing_so_a_writer_holding_the_database_does_not_delay_it(
        history_db: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No run is left `running` here, so there is nothing to close: `history` only reads, even while another
    process holds the write lock (it would otherwise wait the configured bound and warn)."""
    import sqlite3

    config = tmp_path / "config.toml"
    config.write_text((ROOT / "config.toml").read_text(encoding="utf-8").replace(
        "busy_wait_seconds = 120", "busy_wait_seconds = 2", 1), encoding="utf-8")
    writer = sqlite3.connect(history_db["path"], isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        code = main(["history", "--json", "--db", str(history_db["path"]), "--config", str(config)])
        out, err = capsys.readouterr()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert code == 0 and err == ""
    assert {run["id"] for run in json.loads(out)} >= {history_db["door"].run_id, history_db["referral"].run_id}
