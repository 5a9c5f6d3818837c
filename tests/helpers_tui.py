"""What the TUI tests share: a console on a demo copy, waiting without sleeping long, fixed config.

Import the fixtures into a test module with ``from helpers_tui import *``-free
explicit names (pytest finds imported fixtures).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from gymconsole.config import Config
from gymconsole.tui.app import GymConsoleApp, make_app

SIZE = (120, 36)


def tui_config(config: Config, **safety: Any) -> Config:
    """The test config with the scheduler paused (nothing fires by itself) and safety overrides.

    Requests time out after 20 s (not 300) so a test that fails to answer one fails fast.
    """
    safety = {"approval_timeout_seconds": 20.0, **safety}
    return config.model_copy(update={
        "scheduler": config.scheduler.model_copy(update={"start_paused": True}),
        "safety": config.safety.model_copy(update=safety),
    })


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs do not blink: screens stay the same from one frame to the next."""
    monkeypatch.setattr(Input, "cursor_blink", False)


async def wait_until(pilot: Pilot[Any], predicate: Callable[[], bool], *, timeout: float = 60.0,
                     what: str = "condition") -> None:
    """Let the app work until ``predicate()`` holds (polling every few milliseconds).

    A plain sleep, not ``pilot.pause``: a pause forces a full repaint each time, and a
    hundred repaints a second would slow the engine down to a crawl.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    await pilot.pause()


async def settle(pilot: Pilot[Any]) -> None:
    """Wait for the app's background workers (state loads, page loads) to finish."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@asynccontextmanager
async def open_console(config: Config, db_path: Path, clock: Any, *, size: tuple[int, int] = SIZE,
                       **options: Any) -> AsyncIterator[Pilot[GymConsoleApp]]:
    """The console on ``db_path`` (offline unless a key is given), its engine open and the dashboard loaded."""
    options.setdefault("offline", "api_key" not in options)
    app = make_app(config, db_path=db_path, clock=clock, use_env_key=False, actor="tester", **options)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: app.state is not None or app.startup_error is not None, what="engine start")
        yield pilot


async def finished(pilot: Pilot[GymConsoleApp], workflow: str) -> int:
    """Wait for the newest run of ``workflow`` in this session to end; returns its run id."""
    app = pilot.app
    await wait_until(pilot, lambda: any(t.workflow == workflow and t.finished for t in app.traces.values()),
                     what=f"{workflow} to finish")
    return max(t.run_id for t in app.traces.values() if t.workflow == workflow)


def select_workflow(app: GymConsoleApp, name: str) -> None:
    """Put the dashboard's cursor on a workflow's row."""
    from textual.widgets import DataTable

    table = app.screen.query_one("#workflows", DataTable)
    table.move_cursor(row=table.get_row_index(name))


async def until_done(task: asyncio.Task[Any], pilot: Pilot[Any], timeout: float = 15.0) -> Any:
    await wait_until(pilot, task.done, timeout=timeout, what="task")
    return task.result()


async def seed_history(db_path: Path, clock: Any, runs: list[dict[str, Any]]) -> list[int]:
    """Record finished runs through the real recorder (fixed durations: screens stay the same).

    Each spec: workflow, status, summary, member (a subject id), minutes (clock step before it).
    """
    from gymconsole.db import open_database
    from gymconsole.engine.events import (
        EventBus,
        IterationStarted,
        RunFinished,
        RunStarted,
        TextDelta,
        ToolCallFinished,
        ToolCallStarted,
        UsageUpdated,
    )
    from gymconsole.engine.history import RunRecorder

    ids = []
    async with open_database(db_path) as db:
        recorder = RunRecorder(db, clock)
        bus = EventBus([recorder])
        for spec in runs:
            clock.advance(60 * spec.get("minutes", 7))
            workflow = spec["workflow"]
            run_id = await recorder.start_run(workflow, spec.get("trigger", "schedule"), "offline", False)
            member = spec.get("member", 7)
            for event in (
                RunStarted(run_id, workflow, mode="offline", trigger=spec.get("trigger", "schedule")),
                IterationStarted(run_id, workflow, iteration=1),
                TextDelta(run_id, workflow, text=f"Looking at member #{member} for {workflow}.\n"),
                ToolCallStarted(run_id, workflow, call_id="c1", name="get_member", input={"member_id": member}),
                ToolCallFinished(run_id, workflow, call_id="c1", name="get_member", summary=f"member #{member}",
                                 result={"member": {"id": member}}, duration_ms=12.0, subjects=[["member", member]]),
                UsageUpdated(run_id, workflow, input_tokens=1200, output_tokens=300, cost_usd=0.0081),
                RunFinished(run_id, workflow, status=spec.get("status", "succeeded"), summary=spec.get("summary", ""),
                            error=spec.get("error"), iterations=1),
            ):
                await bus.emit(event)
            ids.append(run_id)
        await recorder.flush()
    return ids
