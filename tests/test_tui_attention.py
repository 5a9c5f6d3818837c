"""A run whose summary claims acts the facts do not show is marked for attention on the dashboard and in history."""

from __future__ import annotations

from fakeapi import Reply, Text, ToolUse
from helpers_tui import finished, no_cursor_blink, open_console, select_workflow, tui_config, wait_until
from textual.widgets import DataTable

from gymconsole.tools.base import ToolContext
from gymconsole.tools.read import get_door_access_status
from gymconsole.tools.registry import REGISTRY
from gymconsole.tui.screens.dashboard import DashboardScreen
from gymconsole.tui.screens.history import HistoryScreen
from gymconsole.tui.widgets.console_bar import ConsoleBar
from gymconsole.tui.widgets.spend_panel import SpendPanel

__all__ = ["no_cursor_blink"]
KEY = "sk-ant-test-not-a-real-key-7f3a"


async def test_a_run_that_claims_acts_not_done_needs_attention_on_the_dashboard_and_in_history(
        config, demo_path, clock, fake_api) -> None:
    async with open_console(tui_config(config), demo_path, clock, size=(80, 24), api_key=KEY,
                            base_url=fake_api.base_url) as pilot:
        app = pilot.app
        status = await get_door_access_status(ToolContext(app.services.db, app.config, clock, "door_access"),
                                              REGISTRY["get_door_access_status"].parse_args({"limit": 3}))
        paid_up = [p["id"] for p in status["should_restore"]["sample"]]  # the guard rails skip suspending these
        assert paid_up
        fake_api.script([
            Reply([ToolUse("suspend_door_access", {"member_ids": paid_up, "reason": "past due"})]),
            Reply([Text("Done, I suspended everyone who owes.")]),
        ])
        select_workflow(app, "door_access")
        await pilot.press("r")
        run_id = await finished(pilot, "door_access")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DashboardScreen)
                         and "needs attention" in str(app.screen.query_one(ConsoleBar).render()),
                         what="the console bar's attention count")
        bar = str(app.screen.query_one(ConsoleBar).render())
        assert "1 run needs attention" in bar
        # the day's tokens count the input read from and written to the cache (the fake caches the ~2.5K prefix);
        # the bar speaks of money, not tokens
        day_tokens = app.state.totals["tokens"]
        assert day_tokens > 2500 and "today 1 run · AI cost $0.0" in bar and "tokens" not in bar
        table = app.screen.query_one("#workflows", DataTable)
        assert str(table.get_cell("door_access", "last status")) == "needs attention"
        recent = app.screen.query_one("#recent-runs", DataTable)
        assert str(recent.get_cell(str(run_id), "status")) == "needs attention"
        assert str(recent.get_cell(str(run_id), "summary")).startswith("attention: the model reported acting, but 0")

        # the selected workflow's cost per run and per month at its schedule, from its history
        select_workflow(app, "door_access")
        detail = app.screen.query_one("#workflow-detail")
        await wait_until(pilot, lambda: "AI cost $" in str(detail.render()), what="the workflow's cost")
        per_run = app.screen.query_one(SpendPanel).report.per_run["door_access"]
        assert f"AI cost ${per_run:.4f} a run, ${per_run * 720:,.2f} a month at its schedule" in str(detail.render())

        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, HistoryScreen)
                         and app.screen.query_one("#history-table", DataTable).row_count > 0, what="history")
        history = app.screen.query_one("#history-table", DataTable)
        row = [str(value) for value in history.get_row(str(run_id))]
        assert "needs attention" in row
        assert any(value.startswith(f"attention: the model reported acting, but 0 acts were carried out, "
                                    f"{len(paid_up)} were skipped") for value in row)


async def test_the_dashboard_shows_when_a_rate_limited_scheduled_run_is_tried_again(config, demo_path, clock) -> None:
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    async with open_console(tui_config(config), demo_path, clock, size=(80, 24)) as pilot:
        app = pilot.app
        await pilot.press("P")  # the schedules on (the test config starts them paused)
        await wait_until(pilot, lambda: not app.services.scheduler.paused_all, what="schedules on")
        # what the scheduler does with a scheduled run that ended rate_limited (tests/test_scheduler.py runs it)
        resume = datetime.now(UTC) + timedelta(hours=2)  # APScheduler times the retry by the real clock
        app.services.scheduler._retry_when_rate_limited(
            "door_access", SimpleNamespace(status="rate_limited", resume_at=resume))
        app.request_state()
        table = app.screen.query_one("#workflows", DataTable)
        await wait_until(pilot, lambda: str(table.get_cell("door_access", "next run")).startswith("retry"),
                         what="the retry time on the dashboard")
        local = resume.astimezone(ZoneInfo(config.scheduler.timezone))
        assert str(table.get_cell("door_access", "next run")).endswith(f"{local:%H:%M}")
