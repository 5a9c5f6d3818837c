"""SVG snapshots of every screen (pytest-textual-snapshot), on fixed data at a fixed time.

The scheduler starts paused, the clock is fake (countdowns never move), runs come from the
real recorder with fixed durations, and approval requests are built from real plans of the
demo data.  Update with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from fakeclock import FakeClock
from helpers_tui import SIZE, no_cursor_blink, seed_history, tui_config, wait_until
from textual.pilot import Pilot
from textual.widgets import DataTable

from gymconsole.clock import iso
from gymconsole.config import Config, load_config
from gymconsole.engine.gate import ApprovalRequest
from gymconsole.engine.services import open_services
from gymconsole.tools.base import ToolContext
from gymconsole.tools.registry import REGISTRY
from gymconsole.tui.app import GymConsoleApp, make_app
from gymconsole.tui.screens.approval import ApprovalModal
from gymconsole.tui.screens.history import HistoryScreen
from gymconsole.tui.screens.replay import ReplayScreen

SIZES = pytest.mark.parametrize("size", [(80, 24), SIZE, (200, 60)], ids=["80x24", "120x36", "200x60"])
"""Every screen at the sizes people use: the office PC's 80x24 window, a usual one, a big monitor."""

WIDER = pytest.mark.parametrize("size", [SIZE, (200, 60)], ids=["120x36", "200x60"])

__all__ = ["no_cursor_blink"]
ROOT = Path(__file__).resolve().parent.parent
DEMO_NOW = FakeClock().now()
HISTORY = [
    {"workflow": "door_access", "summary": "Suspended 3 members, restored 1.", "member": 11, "minutes": 30},
    {"workflow": "past_due_monitoring", "summary": "41 past due ($9,120.00); 12 reminders queued.", "member": 12},
    {"workflow": "invoice_review", "status": "failed", "error": "API unavailable (529) after 4 retries", "member": 13},
    {"workflow": "referral_check", "summary": "Rewarded Siobhan O'Brien [/vip] $25.00.", "member": 1},
    {"workflow": "daily_campaigns", "status": "awaiting_approval", "summary": "Campaign to 50 'new' prospects "
     "waits for a person.", "member": 2},
]


@pytest.fixture
def snap_config(tmp_path: Path, demo_template: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """config.toml and gym.db in the working folder, so every path on screen is short and the same."""
    shutil.copyfile(ROOT / "config.toml", tmp_path / "config.toml")
    shutil.copyfile(demo_template, tmp_path / "gym.db")
    monkeypatch.chdir(tmp_path)
    return tui_config(load_config(tmp_path / "config.toml"))


def console(config: Config, clock: FakeClock | None = None) -> GymConsoleApp:
    return make_app(config, clock=clock or FakeClock(DEMO_NOW), offline=True, use_env_key=False, actor="tester")


async def ready(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.state is not None, what="the engine")
    await app.workers.wait_for_complete()
    await pilot.pause()


def seeded(config: Config) -> FakeClock:
    clock = FakeClock(DEMO_NOW)
    clock.advance(-6 * 3600)  # the seeded runs happened this morning
    asyncio.run(seed_history(config.database_path(), clock, HISTORY))
    return FakeClock(DEMO_NOW)


@SIZES
def test_dashboard(snap_compare: Any, snap_config: Config, size: tuple[int, int]) -> None:
    clock = seeded(snap_config)
    assert snap_compare(console(snap_config, clock), terminal_size=size, run_before=ready)


def test_dashboard_dry_run_and_paused_workflow(snap_compare: Any, snap_config: Config) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        app = pilot.app
        await app.services.scheduler.resume(None)
        await app.services.scheduler.pause("door_access")
        await pilot.press("d")
        await wait_until(pilot, lambda: app.state is not None and app.state.dry_run and not app.state.paused_all,
                         what="the new state")
        app.clear_notifications()

    assert snap_compare(console(snap_config), terminal_size=SIZE, run_before=before)


@SIZES
def test_live_run(snap_compare: Any, snap_config: Config, size: tuple[int, int]) -> None:
    from gymconsole.engine.events import (
        IterationStarted,
        Notice,
        RateLimitWait,
        RunStarted,
        TextDelta,
        ToolCallFinished,
        ToolCallStarted,
        UsageUpdated,
    )

    async def before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        services = pilot.app.services
        run_id = await services.recorder.start_run("door_access", "schedule", "claude", False)
        events = [
            RunStarted(run_id, "door_access", mode="claude", trigger="schedule", model="claude-sonnet-4-5"),
            IterationStarted(run_id, "door_access", iteration=1),
            TextDelta(run_id, "door_access", text="I'll start by checking door access against the payment "
                      "records, so that only members who are both far enough and deep enough past due lose access."),
            ToolCallStarted(run_id, "door_access", call_id="t1", name="get_door_access_status", input={"limit": 5}),
            ToolCallFinished(run_id, "door_access", call_id="t1", name="get_door_access_status",
                             summary="26 to suspend, 7 to restore", result={"should_suspend": {"count": 26}},
                             duration_ms=41.0),
            UsageUpdated(run_id, "door_access", input_tokens=5210, output_tokens=388, cost_usd=0.0215),
            RateLimitWait(run_id, "door_access", seconds=4.0, reason="input tokens per minute"),
            IterationStarted(run_id, "door_access", iteration=2),
            TextDelta(run_id, "door_access", text="\n\nTwo accounts look unusual; let me read them before acting."),
            ToolCallStarted(run_id, "door_access", call_id="t2", name="get_member", input={"member_id": 2}),
            ToolCallFinished(run_id, "door_access", call_id="t2", name="get_member",
                             summary="[@click=app.quit]click me[/] Markup: $1,980.00 past due",
                             result={"member": {"id": 2}}, duration_ms=6.0),
            ToolCallStarted(run_id, "door_access", call_id="t3", name="get_member", input={"member_id": 99999}),
            ToolCallFinished(run_id, "door_access", call_id="t3", name="get_member", summary="no member #99999",
                             result={"error": "no member #99999"}, duration_ms=2.0, is_error=True),
            Notice(run_id, "door_access", level="warning", message="API overloaded (529): retrying in 2.0 s"),
            ToolCallStarted(run_id, "door_access", call_id="t4", name="suspend_door_access",
                            input={"member_ids": [1, 2, 362], "reason": "past due"}, risk="high"),
            ToolCallFinished(run_id, "door_access", call_id="t4", name="suspend_door_access",
                             summary="suspended 3", risk="high", decision="approved", duration_ms=18.0,
                             result={"done_count": 3}),
            UsageUpdated(run_id, "door_access", input_tokens=11840, output_tokens=902, cache_read_tokens=4100,
                         cost_usd=0.0491),
        ]
        for event in events:
            await services.bus.emit(event)
        await wait_until(pilot, lambda: pilot.app.screen.query("RunView"), what="the live view")
        await pilot.pause(0.3)  # the view redraws at 10 Hz

    assert snap_compare(console(snap_config), terminal_size=size, run_before=before)


async def _request(app: GymConsoleApp, tool: str, args: dict[str, Any], workflow: str) -> ApprovalRequest:
    services = app.services
    ctx = ToolContext(services.db, services.config, services.clock, workflow, None)
    spec = REGISTRY[tool]
    plan = await spec.plan(ctx, spec.parse_args(args))
    return ApprovalRequest(17, 42, workflow, plan.tool, plan.risk, plan.title, plan, 300.0, iso(services.clock.now()))


@SIZES
def test_approval_modal_door_suspension(snap_compare: Any, snap_config: Config, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        request = await _request(pilot.app, "suspend_door_access",
                                 {"member_ids": [1, 2, 362, 350, 357, 355, 4000], "reason": "past due"}, "door_access")
        await pilot.app.push_screen(ApprovalModal(request, clock=pilot.app.clock, actor="tester", queued=1))
        await pilot.press("down", "space")  # leave the second member out

    assert snap_compare(console(snap_config), terminal_size=size, run_before=before)


def test_approval_modal_bulk_message_with_deny_reason(snap_compare: Any, snap_config: Config) -> None:
    """At 80x24: the list of people, the message as sent and the keys all stay on screen."""
    async def before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        request = await _request(pilot.app, "send_campaign", {
            "audience": "prospects", "stage": "new", "subject": "Your first week is on us",
            "template": "Hi {first_name}, your first week of classes at {gym_name} is on us!",
            "max_recipients": 12}, "daily_campaigns")
        await pilot.app.push_screen(ApprovalModal(request, clock=pilot.app.clock, actor="tester"))
        await pilot.press("n", *"not before the holiday")

    assert snap_compare(console(snap_config), terminal_size=(80, 24), run_before=before)


@SIZES
def test_pending_approvals(snap_compare: Any, snap_config: Config, size: tuple[int, int]) -> None:
    async def pend() -> None:  # nobody is asked: both door requests are saved as pending
        async with open_services(snap_config, clock=FakeClock(DEMO_NOW), offline=True, api_key="") as services:
            await services.runner.run("door_access", trigger="schedule")

    asyncio.run(pend())

    async def before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await pilot.press("a")
        await wait_until(pilot, lambda: bool(pilot.app.screen.query("PlanItems")), what="the pending plan")
        await pilot.pause()

    assert snap_compare(console(snap_config), terminal_size=size, run_before=before)


@SIZES
def test_history(snap_compare: Any, snap_config: Config, size: tuple[int, int]) -> None:
    clock = seeded(snap_config)

    async def before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await pilot.press("h")
        screen = pilot.app.screen
        assert isinstance(screen, HistoryScreen)
        await wait_until(pilot, lambda: "page 1" in str(screen.query_one("#history-status").render()), what="a page")
        table = screen.query_one("#history-table", DataTable)  # the columns are measured when the table is idle
        await wait_until(pilot, lambda: table.columns["started"].content_width > len("started"), what="the widths")

    assert snap_compare(console(snap_config, clock), terminal_size=size, run_before=before)


@SIZES
def test_replay(snap_compare: Any, snap_config: Config, size: tuple[int, int]) -> None:
    clock = seeded(snap_config)

    async def before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await pilot.press("h")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: "page 1" in str(screen.query_one("#history-status").render()), what="a page")
        await pilot.press("down", "down", "enter")  # the failed invoice review
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReplayScreen)
                         and bool(pilot.app.screen.query("RunView")), what="the replay")
        await pilot.pause(0.2)

    assert snap_compare(console(snap_config, clock), terminal_size=size, run_before=before)


@SIZES
def test_config_view(snap_compare: Any, snap_config: Config, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await pilot.press("c", "down", "down")

    assert snap_compare(console(snap_config), terminal_size=size, run_before=before)


@SIZES
def test_import(snap_compare: Any, snap_config: Config, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await pilot.press("i")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "ImportScreen", what="the import screen")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(console(snap_config), terminal_size=size, run_before=before)


@WIDER  # 80x24: tests/test_tui_snapshots_assistant.py
def test_standing_rules(snap_compare: Any, snap_config: Config, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await pilot.press("a", "s")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "RulesScreen", what="the rules screen")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(console(snap_config), terminal_size=size, run_before=before)


@WIDER  # 80x24: tests/test_tui_snapshots_assistant.py
def test_ask(snap_compare: Any, snap_config: Config, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "AskScreen", what="the ask screen")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(console(snap_config), terminal_size=size, run_before=before)
