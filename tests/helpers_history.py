"""Test helpers of the history and scheduler tests: a scripted runner with the WorkflowRunner contract.

``ScriptedRunner`` is *not* a stand-in for the engine's behaviour: it is a
minimal producer of the event stream (``recorder.start_run`` then RunStarted
... RunFinished on the bus, cancelled runs finishing as ``cancelled``) so the
recorder and scheduler can be tested on their own.  Runs through the real
WorkflowRunner are tested separately.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from gymconsole.clock import Clock
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


@dataclass
class ScriptedRun:
    run_id: int
    workflow: str
    status: str


@dataclass
class ScriptedRunner:
    """Emits a small, realistic event stream per run; ``hold`` makes runs wait until released."""

    bus: EventBus
    recorder: RunRecorder
    clock: Clock
    offline: bool = True
    dry_run: bool = False
    chunks: int = 3
    members: list[int] = field(default_factory=lambda: [42])
    hold: asyncio.Event | None = None
    fail_with: BaseException | None = None
    started: list[tuple[str, str]] = field(default_factory=list)
    _running: dict[str, int] = field(default_factory=dict)
    _tasks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)

    def running(self) -> dict[str, int]:
        return dict(self._running)

    def cancel(self, workflow: str) -> bool:
        task = self._tasks.get(workflow)
        if task is None:
            return False
        task.cancel()
        return True

    async def run(self, workflow: str, *, trigger: str = "manual", dry_run: bool | None = None) -> ScriptedRun:
        self.started.append((workflow, trigger))
        if self.fail_with is not None:
            raise self.fail_with
        dry = self.dry_run if dry_run is None else dry_run
        run_id = await self.recorder.start_run(workflow, trigger, "offline" if self.offline else "claude", dry)
        self._running[workflow] = run_id
        current = asyncio.current_task()
        assert current is not None
        self._tasks[workflow] = current
        emit = self.bus.emit
        try:
            await emit(RunStarted(run_id=run_id, workflow=workflow, trigger=trigger, dry_run=dry))
            await emit(IterationStarted(run_id=run_id, workflow=workflow, iteration=1))
            for i in range(self.chunks):
                await emit(TextDelta(run_id=run_id, workflow=workflow, text=f"chunk {i} "))
            await emit(ToolCallStarted(run_id=run_id, workflow=workflow, call_id="c1", name="get_member",
                                       input={"member_id": self.members[0] if self.members else 1}))
            await emit(ToolCallFinished(run_id=run_id, workflow=workflow, call_id="c1", name="get_member",
                                        summary="1 member", result={"ok": True}, duration_ms=1.5,
                                        subjects=[["member", m] for m in self.members]))
            if self.hold is not None:
                await self.hold.wait()
            await emit(UsageUpdated(run_id=run_id, workflow=workflow, input_tokens=100, output_tokens=20,
                                    cost_usd=0.0006))
            await emit(RunFinished(run_id=run_id, workflow=workflow, status="succeeded",
                                   summary=f"{workflow} done", iterations=1))
            return ScriptedRun(run_id, workflow, "succeeded")
        except asyncio.CancelledError:
            await emit(RunFinished(run_id=run_id, workflow=workflow, status="cancelled",
                                   summary="cancelled", iterations=1))
            raise
        finally:
            self._running.pop(workflow, None)
            self._tasks.pop(workflow, None)


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    """Poll an async or sync predicate every few ms until it holds (real time, bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
