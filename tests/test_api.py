"""The Python API: sync and async, typed results with the --json fields, lazy import, the README example."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from fakeapi import Reply, Text, ToolUse
from helpers_engine import KEY
from test_cli_run import JSON_KEYS

from gymconsole import AsyncConsole, Console
from gymconsole.engine.history import HistoryStore

ROOT = Path(__file__).resolve().parent.parent


def test_import_gymconsole_stays_cheap() -> None:
    code = ("import sys, gymconsole; print(sorted(m for m in ('gymconsole.api', 'gymconsole.engine', 'pydantic', "
            "'anthropic', 'textual') if m in sys.modules)); print(gymconsole.Console.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "Console"]


def test_sync_console_runs_asks_and_reads_history(config, demo_path, fake_api) -> None:
    fake_api.script([
        Reply([ToolUse("get_door_access_status", {"limit": 2}),
               ToolUse("suspend_door_access", {"member_ids": [362]})]),
        Reply([Text("Nothing was suspended: you said no.")]),
        Reply([Text("42 members.")]),
        Reply([Text("And 7 of them are frozen.")]),
    ])
    with Console.open(config, db=demo_path, api_key=KEY, base_url=fake_api.base_url) as c:
        run = c.run("door_access", approve="no")
        first = c.ask("how many members?")
        second = c.ask("how many frozen?", follow_up=first)
        past = c.history(limit=5)
        workflows = c.workflows()

    assert set(run.as_dict()) == JSON_KEYS and run.workflow == "door_access"
    denied = [call for call in run.tool_calls if call["name"] == "suspend_door_access"]
    assert denied and denied[0]["decision"] == "denied"
    assert first.answer == "42 members." and second.conversation_id == first.run_id
    assert JSON_KEYS | {"question", "conversation_id", "answer"} == set(second.as_dict())
    assert [p.id for p in past] == [second.run_id, first.run_id, run.run_id]
    assert past[0].workflow == "ask" and past[0].status == "succeeded" and "door_access" in workflows


async def test_async_console_has_the_cli_history_fields(config, demo_path) -> None:
    async with await AsyncConsole.open(config, db=demo_path, api_key="", offline=True) as c:
        result = await c.run("referral_check", approve="ask")
        (entry,) = await c.history(limit=1)
        raw = await HistoryStore(c._services.db, c._services.clock).list_runs(limit=1)
    assert result.status == "succeeded" and result.mode == "offline"
    assert entry.as_dict() == raw[0]  # exactly what `gymconsole history --json` prints for the run


def test_the_readme_example_runs(tmp_path, demo_path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```python\n(from gymconsole import Console\n.*?)```", readme, re.S)
    assert example, "the README shows a Python API example"
    shutil.copyfile(ROOT / "config.toml", tmp_path / "config.toml")
    assert demo_path == tmp_path / "gym.db"  # the demo gym is already where config.toml points
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", example.group(1)], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0].split()
    assert first[0].isdigit() and first[1] == "succeeded"
