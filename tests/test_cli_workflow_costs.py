"""`gymconsole workflows` shows each workflow's Claude cost per run and per month at its schedule, from its history."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fakeapi import Reply, Text, ToolUse
from helpers_engine import engine

from gymconsole.cli import main

CONFIG = str(Path(__file__).resolve().parent.parent / "config.toml")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args, "--config", CONFIG])
    out, err = capsys.readouterr()
    return code, out, err


async def _two_claude_runs(config, demo_path, clock, fake_api) -> list[float]:
    fake_api.script([Reply([Text("Nothing to change at the doors.")]), Reply([Text("Still nothing to change.")])])
    async with engine(config, demo_path, clock, api=fake_api) as (services, _):
        return [(await services.runner.run("door_access")).cost_usd for _ in range(2)]


def test_workflows_shows_cost_per_run_and_per_month_from_history(config, demo_path, clock, fake_api, capsys,
                                                                 monkeypatch) -> None:
    costs = asyncio.run(_two_claude_runs(config, demo_path, clock, fake_api))
    mean = sum(costs) / 2
    assert mean > 0

    monkeypatch.setattr("gymconsole.cli.workflows.SystemClock", lambda: clock)
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = cli(capsys, "workflows", "--db", str(demo_path), "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0 and err == ""
    door = rows["door_access"]
    assert door["cost_per_run_usd"] == pytest.approx(mean, abs=1e-6)  # stored to the micro-dollar
    assert door["cost_per_month_usd"] == pytest.approx(door["cost_per_run_usd"] * 720)  # hourly: 720 in 30 days
    assert rows["daily_campaigns"]["cost_per_run_usd"] is None and rows["daily_campaigns"]["cost_per_month_usd"] is None

    code, out, _ = cli(capsys, "workflows", "--db", str(demo_path))
    door_line = next(line for line in out.splitlines() if "door_access" in line)
    assert code == 0 and "AI cost/run (month)" in out
    assert f"${door['cost_per_run_usd']:.4f} (${door['cost_per_month_usd']:,.2f})" in door_line
    assert "no AI runs yet" in out

    monkeypatch.setenv("COLUMNS", "80")  # the cost column drops first; the others keep their room
    code, out, _ = cli(capsys, "workflows", "--db", str(demo_path))
    assert code == 0 and "AI cost/run" not in out and "door_access" in out  # (the note under it says where it is)
    assert max(len(line) for line in out.splitlines()) <= 80


async def _attention_run(config, demo_path, clock, fake_api) -> str:
    from gymconsole.tools.base import ToolContext
    from gymconsole.tools.read import get_door_access_status
    from gymconsole.tools.registry import REGISTRY

    async with engine(config, demo_path, clock, api=fake_api) as (services, _):
        status = await get_door_access_status(ToolContext(services.db, services.config, clock, "door_access"),
                                              REGISTRY["get_door_access_status"].parse_args({"limit": 3}))
        paid_up = [p["id"] for p in status["should_restore"]["sample"]]  # the guard rails skip suspending these
        fake_api.script([Reply([ToolUse("suspend_door_access", {"member_ids": paid_up, "reason": "past due"})]),
                         Reply([Text("Done, I suspended everyone who owes.")])])
        return (await services.runner.run("door_access")).attention


def test_a_run_that_needs_attention_says_so_in_history_and_workflows(config, demo_path, clock, fake_api, capsys,
                                                                    monkeypatch) -> None:
    attention = asyncio.run(_attention_run(config, demo_path, clock, fake_api))
    assert attention.startswith("the model reported acting, but 0 acts were carried out")
    monkeypatch.setattr("gymconsole.cli.workflows.SystemClock", lambda: clock)
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = cli(capsys, "history", "--db", str(demo_path))
    line = next(line for line in out.splitlines() if "door_access" in line)
    assert code == 0 and "needs attention" in line and f"attention: {attention}" in line
    code, out, _ = cli(capsys, "workflows", "--db", str(demo_path))
    assert code == 0 and "needs attention" in next(line for line in out.splitlines() if "door_access" in line)
    code, out, _ = cli(capsys, "workflows", "--db", str(demo_path), "--json")
    assert {row["name"]: row for row in json.loads(out)}["door_access"]["last_attention"] == attention
