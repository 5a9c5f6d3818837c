"""WorkflowRunner: one run per workflow, cancelling, the recorded history of a run."""

from __future__ import annotations

import asyncio
import time

import pytest
from fakeapi import Hang, Reply, Text
from helpers_engine import engine

from gymconsole.engine.runner import AlreadyRunning, UnknownWorkflow
from gymconsole.tools.registry import Decision


class HeldAsker:
    """An asker that waits until the test lets it answer."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, request) -> Decision:
        self.asked.set()
        await self.release.wait()
        return Decision("approved", "cli", "tester")


async def test_one_run_per_workflow_and_cancel(config, demo_path, clock):
    asker = HeldAsker()
    async with engine(config, demo_path, clock, offline=True, asker=asker) as (services, events):
        runner = services.runner
        first = asyncio.create_task(runner.run("door_access"))
        await asyncio.wait_for(asker.asked.wait(), 5)
        run_id = runner.running()["door_access"]
        with pytest.raises(AlreadyRunning) as info:
            await runner.run("door_access")
        assert info.value.run_id == run_id and str(info.value) == f"door_access is already running (run #{run_id})"
        other = await runner.run("referral_check")  # another workflow runs meanwhile
        assert other.status == "succeeded"
        assert runner.cancel("door_access") is True
        result = await asyncio.wait_for(first, 5)
        assert runner.running() == {} and runner.cancel("door_access") is False
        run = await services.history.get_run(run_id)
        pending = await services.gate.pending()
        again = await runner.run("referral_check")
    assert result.status == "cancelled" and result.run_id == run_id
    assert run["status"] == "cancelled" and run["ended_at"]
    assert [e.status for e in events.of("run_finished") if e.run_id == run_id] == ["cancelled"]
    assert [p["run_id"] for p in pending] == [run_id]  # the question is kept for a person
    assert again.status == "succeeded"


async def test_a_cancelled_caller_leaves_the_run_recorded_as_cancelled(config, demo_path, clock):
    asker = HeldAsker()
    async with engine(config, demo_path, clock, offline=True, asker=asker) as (services, events):
        task = asyncio.create_task(services.runner.run("daily_escalation"))
        await asyncio.wait_for(asker.asked.wait(), 5)
        run_id = services.runner.running()["daily_escalation"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        run = await services.history.get_run(run_id)
        stored = await services.history.events(run_id)
    assert run["status"] == "cancelled"
    assert stored[0].kind == "run_started" and stored[-1].kind == "run_finished" and stored[-1].status == "cancelled"
    assert services.runner.running() == {}


async def test_cancelling_a_claude_run_mid_request(config, demo_path, clock, fake_api):
    fake_api.script([Hang(30)])
    async with engine(config, demo_path, clock, api=fake_api) as (services, events):
        task = asyncio.create_task(services.runner.run("referral_check"))
        deadline = time.monotonic() + 5
        while not fake_api.requests and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        assert services.runner.cancel("referral_check")
        result = await asyncio.wait_for(task, 5)
        run = await services.history.get_run(result.run_id)
    assert result.status == "cancelled" and run["status"] == "cancelled"
    assert time.monotonic() - started < 2


async def test_unknown_workflow(config, demo_path, clock):
    async with engine(config, demo_path, clock, offline=True) as (services, _):
        with pytest.raises(UnknownWorkflow, match="unknown workflow 'nope'; known: daily_campaigns"):
            await services.runner.run("nope")
        assert await services.history.list_runs() == []


async def test_history_replays_the_run(config, demo_path, clock, fake_api):
    fake_api.script([Reply([Text("Nothing ", chunks=1), Text("to do today.", chunks=3)])])
    async with engine(config, demo_path, clock, api=fake_api) as (services, events):
        result = await services.runner.run("invoice_review", trigger="schedule")
        await services.recorder.flush()
        stored = await services.history.events(result.run_id)
        run = await services.history.get_run(result.run_id)
    assert result.status == "succeeded" and result.summary == "Nothing to do today."
    assert run["trigger"] == "schedule" and run["summary"] == result.summary and run["mode"] == "claude"
    kinds = [e.kind for e in stored]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished" and "usage" in kinds
    assert "".join(e.text for e in stored if e.kind == "text") == "Nothing to do today."


async def test_mode_follows_the_key_and_the_flag(config, demo_path, clock, fake_api):
    async with engine(config, demo_path, clock, api=fake_api, offline=True) as (services, _):
        assert services.runner.mode == "offline"
        result = await services.runner.run("referral_check")
    assert result.mode == "offline" and fake_api.requests == []
    async with engine(config, demo_path, clock) as (services, _):  # no key at all
        assert services.runner.offline and services.runner.mode == "offline"
