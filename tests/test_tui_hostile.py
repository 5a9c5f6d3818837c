"""Hostile names and model text in every console screen, read back from the screen at 80x24."""

from __future__ import annotations

import html
import re
from typing import Any

from fakeapi import Reply, Text, ToolUse
from helpers_engine import KEY
from helpers_tui import finished, no_cursor_blink, open_console, select_workflow, tui_config, wait_until
from test_sanitize import HOSTILE, assert_safe, rename_member
from textual.widgets import DataTable

from gymconsole.tui.screens.approval import ApprovalModal
from gymconsole.tui.screens.config_view import ConfigScreen
from gymconsole.tui.screens.history import HistoryScreen
from gymconsole.tui.screens.live import LiveScreen
from gymconsole.tui.screens.pending import PendingScreen
from gymconsole.tui.screens.replay import ReplayScreen
from gymconsole.tui.widgets.plan_view import PlanItems

__all__ = ["no_cursor_blink"]
SMALL = (80, 24)


def screen_text(app: Any) -> str:
    """What the terminal shows, as text (from the app's own screenshot)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


def assert_no_raw(text: str) -> None:
    assert "\x1b" not in text and "\u202e" not in text and "\u200b" not in text and "\x07" not in text


async def test_every_screen_shows_hostile_text_visibly(config, demo_path, clock, fake_api) -> None:
    rename_member(demo_path)
    fake_api.script([
        Reply([Text(f"Checking {HOSTILE} now. "), ToolUse("suspend_door_access", {"member_ids": [1]})]),
        Reply([Text(f"Done with {HOSTILE}")]),
    ])
    async with open_console(tui_config(config), demo_path, clock, size=SMALL, api_key=KEY,
                            base_url=fake_api.base_url) as pilot:
        app = pilot.app
        select_workflow(app, "door_access")
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalModal), what="the approval modal")
        await pilot.pause()
        assert_safe(screen_text(app))
        await pilot.press("y")
        run_id = await finished(pilot, "door_access")
        await wait_until(pilot, lambda: isinstance(app.screen, LiveScreen), what="the live view")
        await pilot.pause(0.2)
        assert_safe(screen_text(app))
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert_no_raw(screen_text(app))  # the dashboard
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, HistoryScreen)
                         and app.screen.query_one("#history-table", DataTable).row_count > 0, what="history")
        assert_no_raw(screen_text(app))
        app.action_open_run(run_id)
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.trace is not None,
                         what="the replay")
        await pilot.pause(0.2)
        assert_safe(screen_text(app))
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfigScreen), what="config")
        assert_no_raw(screen_text(app))


async def test_pending_screen_shows_hostile_names_visibly(config, demo_path, clock) -> None:
    rename_member(demo_path)
    async with open_console(tui_config(config, approval_timeout_seconds=0.3), demo_path, clock,
                            size=SMALL) as pilot:
        app = pilot.app
        select_workflow(app, "door_access")
        await pilot.press("r")
        await finished(pilot, "door_access")  # nobody answers: the requests wait in Pending
        await wait_until(pilot, lambda: not isinstance(app.screen, ApprovalModal), what="the modal to close")
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, PendingScreen) and bool(app.screen.query(PlanItems)),
                         what="the pending plan")
        screen = app.screen
        table = screen.query_one("#pending-table", DataTable)
        suspend = next(row for row in screen.rows.values() if row["tool"] == "suspend_door_access")
        table.move_cursor(row=table.get_row_index(str(suspend["id"])))
        await wait_until(pilot, lambda: screen.query_one(PlanItems).plan.tool == "suspend_door_access",
                         what="its plan")
        await pilot.pause()
        assert_safe(screen_text(app))
