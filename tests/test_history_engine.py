"""The history through the real engine: what a run emits is what the history replays, concurrent runs and
readers (in this process and another one) never lose an event nor hit "database is locked", and the API key
never reaches the database file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from fakeapi import Reply, Text, ToolUse, Usage
from helpers_engine import KEY, Events, answer_yes, engine

from gymconsole.engine.events import Event, TextDelta

ROOT = Path(__file__).resolve().parent.parent


def comparable(events: list[Event]) -> tuple[list[dict[str, Any]], str]:
    """Events as the history keeps them: consecutive narration chunks may be joined, nothing else changes."""
    others = [e.to_dict() for e in events if not isinstance(e, TextDelta)]
    return others, "".join(e.text for e in events if isinstance(e, TextDelta))


def by_run(events: Events, run_id: int) -> list[Event]:
    return [e for e in events.all if e.run_id == run_id]


async def test_offline_runs_replay_exactly(config, demo_path, clock) -> None:
    async with engine(config, demo_path, clock, offline=True, asker=answer_yes) as (services, events):
        result = await services.runner.run("door_access")
        stored = await services.history.events(result.run_id)
        run = await services.history.get_run(result.run_id)
        touched = run["subjects"] if run else []
        member = next(ident for kind, ident in touched if kind == "member")
        pages = await services.history.list_runs(subject=("member", member))
    assert comparable(stored) == comparable(by_run(events, result.run_id))
    assert run is not None and run["status"] == result.status and run["summary"] == result.summary
    assert run["mode"] == "offline" and run["trigger"] == "manual" and run["ended_at"]
    assert [r["id"] for r in pages] == [result.run_id]


async def test_concurrent_runs_and_a_reader_lose_nothing(config, demo_path, clock) -> None:
    names = ["door_access", "referral_check", "invoice_review", "past_due_monitoring"]
    async with engine(config, demo_path, clock, offline=True, asker=answer_yes) as (services, events):
        done = asyncio.Event()
        reads = 0

        async def reader() -> None:
            nonlocal reads
            while not done.is_set():
                for run in await services.history.list_runs(limit=10):
                    await services.history.events(run["id"])
                await services.history.last_runs()
                reads += 1
                await asyncio.sleep(0)

        watcher = asyncio.create_task(reader())
        results = await asyncio.gather(*(services.runner.run(name) for name in names))
        done.set()
        await watcher
        stored = {r.run_id: await services.history.events(r.run_id) for r in results}
        running = await services.db.fetch_value("SELECT COUNT(*) FROM runs WHERE status = 'running'")
    assert reads > 0 and running == 0
    assert {r.status for r in results} <= {"succeeded", "awaiting_approval"}
    for result in results:
        assert comparable(stored[result.run_id]) == comparable(by_run(events, result.run_id)), result.workflow


async def test_another_process_writing_the_same_file(config, demo_path, clock) -> None:
    """`gymconsole run` in two other processes while this one runs workflows and reads the history."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_") and k != "CLAUDE_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    children = [subprocess.Popen(
        [sys.executable, "-m", "gymconsole", "run", name, "--offline", "--approve", "yes", "--json",
         "--config", str(ROOT / "config.toml"), "--db", str(demo_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=demo_path.parent,
        stdin=subprocess.DEVNULL) for name in ("referral_check", "invoice_review")]
    try:
        async with engine(config, demo_path, clock, offline=True, asker=answer_yes) as (services, events):
            ours = []
            for _ in range(3):
                ours += await asyncio.gather(services.runner.run("door_access"),
                                             services.runner.run("past_due_monitoring"))
                await services.history.list_runs(limit=50)
            outputs = [child.communicate(timeout=60) for child in children]
            for child, (out, err) in zip(children, outputs):
                assert child.returncode == 0 and "locked" not in err, err
            rows = await services.history.list_runs(limit=100)
            gaps = await services.db.fetch_value(
                "SELECT COUNT(*) FROM (SELECT run_id, MAX(seq) AS top, COUNT(*) AS n FROM run_events GROUP BY run_id)"
                " WHERE top != n")
            stored = {r.run_id: await services.history.events(r.run_id) for r in ours}
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert len(rows) == 8 and {r["status"] for r in rows} <= {"succeeded", "awaiting_approval"}
    assert gaps == 0
    for result in ours:
        assert comparable(stored[result.run_id]) == comparable(by_run(events, result.run_id))


async def test_a_claude_run_is_recorded_and_the_key_never_reaches_the_file(config, demo_path, clock,
                                                                          fake_api) -> None:
    fake_api.script([
        Reply([Text("Let me look at member one.", chunks=12), ToolUse("get_member", {"member_id": 1})],
              usage=Usage(1000, 80, 300, 200)),
        Reply([Text(f"Done. Nothing else to do ({'x' * 3000}).", chunks=40)], usage=Usage(1200, 60, 0, 500)),
    ])
    async with engine(config, demo_path, clock, api=fake_api) as (services, events):
        result = await services.runner.run("door_access")
        run = await services.history.get_run(result.run_id)
        stored = await services.history.events(result.run_id)
    assert result.status == "succeeded" and result.mode == "claude"
    assert run is not None and run["mode"] == "claude" and ["member", 1] in run["subjects"]
    assert (run["input_tokens"], run["output_tokens"]) == (result.usage["input"], result.usage["output"])
    assert run["cost_usd"] == round(result.cost_usd, 6) or abs(run["cost_usd"] - result.cost_usd) < 1e-9
    assert comparable(stored) == comparable(by_run(events, result.run_id))
    texts = [e for e in stored if isinstance(e, TextDelta)]
    assert 2 <= len(texts) < len([e for e in events.all if isinstance(e, TextDelta)])
    assert fake_api.requests[0].headers["authorization"] == f"Bearer {KEY}"
    files = [p for p in demo_path.parent.iterdir() if p.name.startswith(demo_path.name)]
    assert files and all(KEY.encode() not in p.read_bytes() for p in files)
