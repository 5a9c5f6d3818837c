"""The console as a person uses it: dashboard, runs streaming live, pausing, the palette, errors."""

from __future__ import annotations

from pathlib import Path

from helpers_tui import finished, no_cursor_blink, open_console, select_workflow, tui_config, wait_until
from textual.command import CommandList
from textual.widgets import DataTable, Tab

from gymconsole.db import open_database
from gymconsole.tui.screens.dashboard import DashboardScreen
from gymconsole.tui.screens.live import LiveScreen
from gymconsole.tui.widgets.run_view import NarrationLog, RunView

__all__ = ["no_cursor_blink"]


async def test_dashboard_lists_the_workflows_with_badges(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        assert isinstance(app.screen, DashboardScreen)
        table = app.screen.query_one("#workflows", DataTable)
        assert list(table.rows) == list(config.workflows)
        state = app.state
        assert state is not None and state.demo and state.offline and state.paused_all
        bar = str(app.screen.query_one("#console-bar").render())
        assert "DEMO" in bar and "OFFLINE" in bar and "PAUSED" in bar
        door = table.get_row("door_access")
        # Everything is paused: the next run and the countdown say so in words (not "—").
        assert str(door[2]) == "paused" and str(door[3]) == "paused"
        assert str(door[6]).startswith("paused")


async def test_run_from_the_dashboard_streams_into_the_live_view(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        select_workflow(app, "invoice_review")
        await pilot.press("r")
        run_id = await finished(pilot, "invoice_review")
        await wait_until(pilot, lambda: isinstance(app.screen, LiveScreen), what="the live view")
        trace = app.traces[run_id]
        assert trace.status == "succeeded" and trace.mode == "offline"
        view = app.screen.query_one(RunView)
        await wait_until(pilot, lambda: view.query_one(DataTable).row_count == len(trace.calls), what="tool rows")
        tools = [str(view.query_one(DataTable).get_row(key)[1]) for key in trace.calls]
        assert tools[0] == "look up invoices to review" and "flag invoice" in tools
        log = view.query_one(NarrationLog)
        assert any("Offline playbook" in line for line in log.lines)
        assert all(len(line) <= log.scrollable_content_region.width for line in log.lines)
    async with open_database(demo_path) as db:
        row = await db.fetch_one("SELECT status, trigger FROM runs WHERE id = ?", [run_id])
        flags = await db.fetch_value("SELECT COUNT(*) FROM flags WHERE run_id = ?", [run_id])
    assert row == {"status": "succeeded", "trigger": "manual"}
    assert flags > 0


async def test_several_runs_get_a_tab_each(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        select_workflow(app, "invoice_review")
        await pilot.press("r")
        await finished(pilot, "invoice_review")
        await wait_until(pilot, lambda: isinstance(app.screen, LiveScreen), what="the live view")
        app.action_run_workflow("referral_check")
        await finished(pilot, "referral_check")
        live = app.screen
        assert isinstance(live, LiveScreen)
        await wait_until(pilot, lambda: len(live.query(Tab)) == 2, what="a second tab")
        second = live.current_run()
        await pilot.press("left_square_bracket")
        assert live.current_run() != second
        # Only the run on show has a view, drawn again from its trace when its tab is chosen.
        await wait_until(pilot, lambda: [view.trace.run_id for view in live.query(RunView)] == [live.current_run()],
                         what="the first run drawn in place of the second")
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("l")  # reopened: both tabs again, the run on show drawn from its trace
        assert isinstance(app.screen, LiveScreen)
        await wait_until(pilot, lambda: len(app.screen.query(Tab)) == 2 and len(app.screen.query(RunView)) == 1,
                         what="the tabs and one view")


async def test_pause_and_resume_one_workflow_and_all(config, demo_path, clock) -> None:
    async with open_console(config, demo_path, clock) as pilot:
        app = pilot.app
        scheduler = app.services.scheduler
        assert not scheduler.paused_all
        select_workflow(app, "door_access")
        await pilot.press("p")
        await wait_until(pilot, lambda: scheduler.is_paused("door_access"), what="pause")
        await wait_until(pilot, lambda: str(app.screen.query_one("#workflows", DataTable).get_row("door_access")[6])
                         == "paused", what="the paused flag on screen")
        assert not scheduler.is_paused("invoice_review")
        await pilot.press("p")
        await wait_until(pilot, lambda: not scheduler.is_paused("door_access"), what="resume")
        await pilot.press("P")
        await wait_until(pilot, lambda: scheduler.paused_all, what="pause all")
        await wait_until(pilot, lambda: app.state is not None and app.state.paused_all, what="state")
    async with open_database(demo_path) as db:
        rows = await db.fetch_all("SELECT workflow, paused FROM scheduler_state ORDER BY workflow")
    assert {"workflow": "*", "paused": 1} in rows and {"workflow": "door_access", "paused": 0} in rows


async def test_dry_run_toggle_reaches_the_runner(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        await pilot.press("d")
        assert app.services.runner.dry_run is True
        await wait_until(pilot, lambda: app.state is not None and app.state.dry_run, what="state")
        assert "DRY RUN" in str(app.screen.query_one("#console-bar").render())
        select_workflow(app, "door_access")
        await pilot.press("r")  # a dry run asks nobody: the gate decides dry_run
        run_id = await finished(pilot, "door_access")
        assert app.traces[run_id].dry_run
    async with open_database(demo_path) as db:
        assert await db.fetch_value("SELECT COUNT(*) FROM door_changes WHERE run_id = ?", [run_id]) == 0


async def test_command_palette_runs_a_workflow(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        await pilot.press("ctrl+p")
        await pilot.press(*"run referral")
        hits = app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: hits.option_count > 0 and hits.highlighted is not None, what="palette hits")
        assert "Run Referral rewards now" in str(hits.get_option_at_index(hits.highlighted).prompt)
        await pilot.press("enter")
        run_id = await finished(pilot, "referral_check")
        assert app.traces[run_id].status == "succeeded"


async def test_a_missing_database_is_a_notification_not_a_crash(config, tmp_path: Path, clock) -> None:
    async with open_console(tui_config(config), tmp_path / "missing.db", clock) as pilot:
        app = pilot.app
        assert app.startup_error and "missing.db" in app.startup_error
        assert any("Cannot open the database" in n.message for n in app._notifications)
        await pilot.press("r")  # the dashboard still answers
        await pilot.press("h")
        assert app.is_running
