"""``make screenshots``: SVGs of every screen of the console, on the demo gym.

``python -m gymconsole.tui.screenshots OUTPUT_DIR`` builds a fresh demo database in a
temporary folder, records a morning of offline runs (some leave approvals pending),
then opens the console headless at a fixed moment (the demo's Monday, 10:00 in New
York) and saves each screen as ``OUTPUT_DIR/<screen>.svg``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from gymconsole.clock import FrozenClock
from gymconsole.config import Config, load_config

DEMO_DAY = date(2026, 11, 2)
MOMENT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
SIZE = (120, 36)
ROOT = Path(__file__).resolve().parents[2]
MORNING = ["door_access", "invoice_review", "past_due_monitoring", "referral_check"]


async def record_morning(config: Config) -> None:
    """A few offline runs before the console opens; nobody answers, so acts that ask stay pending."""
    from gymconsole.engine.services import open_services

    for hours_ago, workflow in zip((5, 4, 2, 1), MORNING):
        clock = FrozenClock(MOMENT - timedelta(hours=hours_ago))
        async with open_services(config, clock=clock, offline=True, api_key="") as services:
            await services.runner.run(workflow, trigger="schedule")


async def _until(predicate: Callable[[], Any], timeout: float = 30.0) -> None:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError("the console did not reach the screen to capture")
        await asyncio.sleep(0.02)


Scene = Callable[[Pilot[Any]], Awaitable[None]]


async def _dashboard(pilot: Pilot[Any]) -> None:
    from textual.widgets import DataTable

    pilot.app.screen.query_one("#workflows", DataTable).move_cursor(row=5)


async def _live(pilot: Pilot[Any]) -> None:
    from gymconsole.tui.screens.live import LiveScreen

    app = pilot.app
    app.action_run_workflow("invoice_review")
    await _until(lambda: any(t.workflow == "invoice_review" and t.finished for t in app.traces.values()))
    await _until(lambda: isinstance(app.screen, LiveScreen))
    await pilot.pause(0.3)
    app.clear_notifications()


async def _approval(pilot: Pilot[Any]) -> None:
    from gymconsole.tui.screens.approval import ApprovalModal

    app = pilot.app
    app.action_run_workflow("daily_escalation")
    await _until(lambda: isinstance(app.screen, ApprovalModal))
    await pilot.pause(0.3)


async def _pending(pilot: Pilot[Any]) -> None:
    await pilot.press("a")
    await _until(lambda: bool(pilot.app.screen.query("PlanItems")))


async def _history(pilot: Pilot[Any]) -> None:
    await pilot.press("h")
    await _until(lambda: "page 1" in str(pilot.app.screen.query_one("#history-status").render()))


async def _replay(pilot: Pilot[Any]) -> None:
    from gymconsole.tui.screens.replay import ReplayScreen

    await _history(pilot)
    await pilot.press("down", "down", "enter")
    await _until(lambda: isinstance(pilot.app.screen, ReplayScreen) and bool(pilot.app.screen.query("RunView")))
    await pilot.pause(0.3)


async def _config(pilot: Pilot[Any]) -> None:
    await pilot.press("c")


async def _palette(pilot: Pilot[Any]) -> None:
    await pilot.press("ctrl+p", *"run")
    await pilot.pause(0.5)


SCENES: dict[str, Scene] = {
    "dashboard": _dashboard, "live-run": _live, "approval": _approval, "pending-approvals": _pending,
    "history": _history, "replay": _replay, "config": _config, "command-palette": _palette,
}


async def capture(config: Config, name: str, scene: Scene, out: Path) -> Path:
    from gymconsole.tui.app import make_app

    app = make_app(config, clock=FrozenClock(MOMENT), offline=True, use_env_key=False, actor="manager")
    async with app.run_test(size=SIZE) as pilot:
        await _until(lambda: app.state is not None)
        await app.workers.wait_for_complete()
        await scene(pilot)
        await pilot.pause()
        path = out / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"gymconsole · {name.replace('-', ' ')}"), encoding="utf-8")
    return path


async def main_async(out: Path) -> list[Path]:
    import os
    import shutil

    from gymconsole.db.demo import create_demo

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="gymconsole-screens-") as folder:
        work = Path(folder)
        shutil.copyfile(ROOT / "config.toml", work / "config.toml")
        await create_demo(work / "gym.db", scale=1, today=DEMO_DAY)
        base = load_config(work / "config.toml")
        config = base.model_copy(update={"scheduler": base.scheduler.model_copy(update={"start_paused": True})})
        started = time.monotonic()
        await record_morning(config)
        print(f"morning: {time.monotonic() - started:.1f} s", file=sys.stderr)
        shutil.copyfile(work / "gym.db", work / "morning.db")
        target = out if out.is_absolute() else Path.cwd() / out
        here = Path.cwd()
        os.chdir(work)  # paths on screen read as config.toml and gym.db
        try:
            for name, scene in SCENES.items():
                for suffix in ("-wal", "-shm"):  # each screen starts from the same morning
                    Path(f"{work / 'gym.db'}{suffix}").unlink(missing_ok=True)
                shutil.copyfile(work / "morning.db", work / "gym.db")
                started = time.monotonic()
                written.append(await capture(config, name, scene, target))
                print(f"{name}: {time.monotonic() - started:.1f} s", file=sys.stderr)
        finally:
            os.chdir(here)
    return written


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "screenshots")
    for path in asyncio.run(main_async(out)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
