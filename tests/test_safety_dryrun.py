"""Dry run: every acting tool reports what it would do, from real data, and the gym's data does not change.

What is compared: the content of every gym table (members, doors, the outbox, the effects ledger,
collections, rewards, flags...) after a WAL checkpoint.  The run history (runs, run_events, run_subjects,
approvals, audit_log) lives in the same file and IS written during a dry run, on purpose: the history shows
the dry run and what it would have done.  So the file as a whole changes; the gym tables do not.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakeapi import Reply, Text, ToolUse
from helpers_engine import engine
from helpers_safety import ROOT, build_world, count, gym_digest, gymconsole_env, with_safety

from gymconsole.tools.registry import Decision


async def must_not_ask(request: Any) -> Decision:
    raise AssertionError(f"a dry run asked a person: {request.title}")


@pytest.mark.parametrize("source", ["flag", "config"])
async def test_every_workflow_offline_changes_no_gym_data(config: Any, demo_path: Path, clock: Any,
                                                          source: str) -> None:
    before = gym_digest(demo_path)
    everything_asks = with_safety(config, policy={"safe": "ask", "moderate": "ask", "high": "ask"},
                                  dry_run=source == "config")
    async with engine(everything_asks, demo_path, clock, asker=must_not_ask, offline=True,
                      dry_run=True if source == "flag" else None) as (services, events):
        assert services.runner.dry_run
        results = [await services.runner.run(name) for name in config.workflows]
    assert [r.status for r in results] == ["succeeded"] * len(config.workflows), [r.error for r in results]
    acting = [call for r in results for call in r.tool_calls if call["decision"]]
    assert len(acting) >= 6 and {call["decision"] for call in acting} == {"dry_run"}
    finished = [e for e in events.all if e.kind == "tool_finished" and e.decision == "dry_run"]
    assert all(e.result["dry_run"] and e.result["changed"] == "nothing (dry run)" for e in finished)
    assert sum(e.result["would_do_count"] for e in finished) > 20  # resolved from the real data
    assert not events.of("approval_requested")
    assert gym_digest(demo_path) == before
    assert count(demo_path, "SELECT COUNT(*) FROM audit_log WHERE decision = 'dry_run'") == len(acting)
    assert count(demo_path, "SELECT COUNT(*) FROM runs WHERE dry_run = 1") == len(config.workflows)


async def test_a_model_that_acts_in_a_dry_run_changes_nothing(config: Any, demo_path: Path, clock: Any,
                                                              fake_api: Any) -> None:
    before = gym_digest(demo_path)
    fake_api.script([
        Reply([ToolUse("suspend_door_access", {"member_ids": [1, 2, 350, 357, 362]}),
               ToolUse("restore_door_access", {"member_ids": list(range(378, 386))})]),
        Reply([Text("Done.")]),
        Reply([ToolUse("send_campaign", {"audience": "prospects", "template": "Hi {first_name}",
                                         "max_recipients": 500}),
               ToolUse("send_campaign", {"audience": "ppv_members", "template": "Upgrade!"})]),
        Reply([Text("Queued.")]),
    ])
    async with engine(config, demo_path, clock, api=fake_api, asker=must_not_ask, dry_run=True) as (services, events):
        door = await services.runner.run("door_access")
        campaigns = await services.runner.run("daily_campaigns")
    assert door.status == campaigns.status == "succeeded"
    results = [e.result for e in events.of("tool_finished")]
    assert [r["would_do_count"] for r in results] == [5, 7, 500, results[3]["would_do_count"]]
    assert results[3]["would_do_count"] > 0
    assert gym_digest(demo_path) == before


@pytest.mark.slow
def test_dry_run_flag_of_the_cli(tmp_path: Path) -> None:
    template, config = build_world(tmp_path)
    db = tmp_path / "gym.db"
    shutil.copyfile(template, db)
    before = gym_digest(db)
    for workflow in ("door_access", "past_due_monitoring"):
        proc = subprocess.run([sys.executable, "-m", "gymconsole", "--dry-run", "run", workflow, "--offline",
                               "--approve", "yes", "--db", str(db), "--config", str(config)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60, env=gymconsole_env())
        assert proc.returncode == 0, proc.stderr
        assert "dry run" in proc.stdout.lower()
    assert gym_digest(db) == before
