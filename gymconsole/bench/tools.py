"""``make bench`` section ``tools``: every read tool on the demo gym and at 100x.

Builds ``demo.db`` (scale 1) and ``demo-100x.db`` under the work folder once
(reused while the files exist), then times each read tool through
``registry.call_tool`` (validation, handler and result bounding, as the model
calls it) ~20 times and prints the median and p95.  Aim: under 5 ms on the
demo data and under 50 ms at 100x.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, date, datetime, time as dtime
from pathlib import Path
from typing import Any

from gymconsole.clock import FrozenClock
from gymconsole.config import Config
from gymconsole.db import Database
from gymconsole.db.demo import create_demo, schema_fingerprint
from gymconsole.tools.base import ActionPlan, ToolContext
from gymconsole.tools.read import READ_TOOLS
from gymconsole.tools.registry import Decision, call_tool

CALLS = 20
WARMUP = 2
TARGETS_MS = {1: 5.0, 100: 50.0}
ARGS: dict[str, dict[str, Any]] = {"get_member": {"member_id": 1}}


async def _refuse(ctx: ToolContext, plan: ActionPlan) -> Decision:
    return Decision("denied", "policy", "bench", "read tools only")


async def _build(path: Path, scale: int) -> str:
    note = ""
    if path.exists():
        db = await Database.open(path)
        try:
            current = await db.meta("schema") == schema_fingerprint()
        finally:
            await db.close()
        if current:
            return "cached"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        note = " (the schema changed since the cached copy)"
    started = time.perf_counter()
    counts = await create_demo(path, scale=scale)
    return f"built in {time.perf_counter() - started:.1f} s ({sum(counts.values()):,} rows){note}"


async def _time_tools(path: Path) -> dict[str, list[float]]:
    db = await Database.open(path)
    try:
        today = date.fromisoformat(await db.meta("demo_today") or date.today().isoformat())
        ctx = ToolContext(db, Config(), FrozenClock(datetime.combine(today, dtime(15, 0), tzinfo=UTC)), workflow="bench")
        timings: dict[str, list[float]] = {}
        for tool in READ_TOOLS:
            args = ARGS.get(tool.name, {})
            samples = []
            for attempt in range(WARMUP + CALLS):
                started = time.perf_counter()
                outcome = await call_tool(ctx, tool.name, args, None, _refuse)
                elapsed = (time.perf_counter() - started) * 1000
                if outcome.is_error:
                    raise RuntimeError(f"{tool.name} failed: {outcome.result}")
                if attempt >= WARMUP:
                    samples.append(elapsed)
            timings[tool.name] = samples
        return timings
    finally:
        await db.close()


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def _run(workdir: Path) -> None:
    paths = {1: workdir / "demo.db", 100: workdir / "demo-100x.db"}
    for scale, path in paths.items():
        print(f"   {path.name} (scale {scale}): {await _build(path, scale)}")
    results = {scale: await _time_tools(path) for scale, path in paths.items()}
    print(f"   {'tool':<31}{'demo median':>12}{'p95':>8}{'100x median':>13}{'p95':>8}   ms, {CALLS} calls")
    for tool in READ_TOOLS:
        cells = []
        for scale in paths:
            samples = results[scale][tool.name]
            median = statistics.median(samples)
            flag = "!" if median > TARGETS_MS[scale] else " "
            cells.append(f"{median:>11.2f}{flag}{_p95(samples):>8.2f}")
        print(f"   {tool.name:<31}{cells[0]} {cells[1]}")
    print(f"   targets: median under {TARGETS_MS[1]:.0f} ms on the demo, {TARGETS_MS[100]:.0f} ms at 100x ('!' = missed)")


def run(workdir: Path) -> None:
    """Print build times and the read tools' timings."""
    asyncio.run(_run(workdir))
