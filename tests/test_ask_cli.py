"""`gymconsole ask` and `gymconsole questions` in a real subprocess against the fake API."""

from __future__ import annotations

import json

from fakeapi import Reply, Text, ToolUse
from test_cli_run import JSON_KEYS, _gymconsole


def test_ask_streams_tables_as_tables_saves_and_answers_json(demo_path, tmp_path, fake_api):
    fake_api.script([
        Reply([ToolUse("query_gym", {"sql": "SELECT first_name, balance FROM members ORDER BY balance DESC LIMIT 2"})]),
        Reply([Text("The two largest balances:\n\n| Name | Balance |\n|---|---:|\n| Ann [/vip] | $310 |\n"
                    "| Bo | $250 |\n\nBoth are past due.", chunks=5)]),
    ])
    live = _gymconsole("ask", "who owes most?", "--save", "top-debts", db=demo_path, api=fake_api, cwd=tmp_path)
    assert live.returncode == 0, live.stderr
    out = live.stdout
    assert "query the gym's data" in out and "Ann [/vip]" in out and "Both are past due." in out
    assert "| Ann" not in out and "┃Name" in out, out  # a drawn table, not Markdown pipes
    assert "saved 'top-debts' with 1 query" in out

    fake_api.script([Reply([Text("Yes.")])])
    done = _gymconsole("ask", "and did Ann pay?", "--follow-up", "last", "--json", db=demo_path, api=fake_api,
                       cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert JSON_KEYS <= set(result) and result["workflow"] == "ask" and result["answer"] == "Yes."
    assert result["question"] == "and did Ann pay?" and result["conversation_id"] < result["run_id"]

    # Without an API key: a plain message, the saved question offered, and it runs offline from its stored query.
    offline = _gymconsole("ask", "who owes most?", db=demo_path, cwd=tmp_path)
    assert offline.returncode == 1 and "asking needs Claude" in offline.stderr
    assert "top-debts: who owes most?" in offline.stdout and "Traceback" not in offline.stderr
    replay = _gymconsole("questions", "run", "top-debts", "--json", db=demo_path, cwd=tmp_path)
    assert replay.returncode == 0, replay.stderr
    rows = json.loads(replay.stdout)["results"][0]
    assert rows["columns"] == ["first_name", "balance"] and len(rows["rows"]) == 2


def test_a_saved_question_on_a_schedule_becomes_a_workflow(demo_path, tmp_path):
    import shutil
    import subprocess
    import sys

    from test_cli_run import ROOT, _env

    config = tmp_path / "config.toml"
    shutil.copyfile(ROOT / "config.toml", config)

    def gymconsole(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gymconsole", *args, "--config", str(config), "--db",
                               str(demo_path)], capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=60)

    refused = gymconsole("questions", "save", "top-debts", "who owes most?", "--sql", "DELETE FROM members")
    assert refused.returncode == 2 and "only SELECT" in refused.stderr
    assert gymconsole("questions", "save", "top-debts", 'who owes {most}? "now"', "--sql",
                      "SELECT id, balance FROM members ORDER BY balance DESC LIMIT 3").returncode == 0
    offline = json.loads(gymconsole("questions", "run", "top-debts", "--json").stdout)
    assert offline["mode"] == "offline" and len(offline["results"][0]["rows"]) == 3
    bad = gymconsole("questions", "schedule", "top-debts", "--cron", "0 25 * * *")
    assert bad.returncode == 2 and "--cron" in bad.stderr and "Traceback" not in bad.stderr
    assert "bad cron field" in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
    done = gymconsole("questions", "schedule", "top-debts", "--cron", "0 7 * * mon")
    assert done.returncode == 0, done.stderr
    listed = json.loads(gymconsole("workflows", "--json").stdout)
    (saved,) = [w for w in listed if w.get("name", w.get("workflow")) == "saved_top_debts"]
    assert "mon" in json.dumps(saved)
    from gymconsole.config import load_config

    loaded = load_config(config)
    assert 'who owes {most}? "now"' in loaded.task_for("saved_top_debts")
    assert "query_gym" in loaded.workflows["saved_top_debts"].tools
    # Without Claude the scheduled saved question runs its stored query, not every read tool.
    ran = gymconsole("run", "saved_top_debts", "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["mode"] == "offline" and [c["name"] for c in result["tool_calls"]] == ["query_gym"]
    assert "query 1: 3 rows" in result["summary"]
