"""Claude mode through the real SDK (fake server), and failures: notifications, never a crashed screen.

Also the real ``gymconsole`` process in a pseudo-terminal, and the mouse.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pytest
from fakeapi import Reply, Status, Text, ToolUse, Usage
from helpers_tui import finished, no_cursor_blink, open_console, select_workflow, tui_config, wait_until
from textual.widgets import DataTable

from gymconsole.engine.history import HistoryStore
from gymconsole.tui.screens.history import HistoryScreen
from gymconsole.tui.screens.live import LiveScreen
from gymconsole.tui.widgets.key_footer import KeyFooter
from gymconsole.tui.widgets.run_view import NarrationLog, RunStatus, RunView

__all__ = ["no_cursor_blink"]
ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-ant-test-not-a-real-key-7f3a"


def messages(app) -> list[str]:
    return [notification.message for notification in app._notifications]


async def test_a_claude_run_streams_text_and_tool_calls(config, demo_path, clock, fake_api) -> None:
    fake_api.script([
        Reply([Text("Let me look at door access before changing anything. ", chunks=6),
               ToolUse("get_door_access_status", {"limit": 5})], usage=Usage(input_tokens=2100, output_tokens=80)),
        Reply([Text("Nothing should change without a person: I am reporting only.", chunks=4)],
              usage=Usage(input_tokens=2600, output_tokens=40)),
    ])
    async with open_console(tui_config(config), demo_path, clock, api_key=KEY, base_url=fake_api.base_url) as pilot:
        app = pilot.app
        assert app.state is not None and not app.state.offline and app.state.api_key_present
        select_workflow(app, "door_access")
        await pilot.press("r")
        run_id = await finished(pilot, "door_access")
        trace = app.traces[run_id]
        assert (trace.mode, trace.status) == ("claude", "succeeded")
        assert trace.usage["input"] == 4700 and trace.cost_usd > 0
        await wait_until(pilot, lambda: isinstance(app.screen, LiveScreen), what="the live view")
        view = app.screen.query_one(RunView)
        await wait_until(pilot, lambda: view.query_one(DataTable).row_count == 1, what="the tool call")
        text = " ".join(view.query_one(NarrationLog).lines)
        assert "Let me look at door access" in text and "reporting only." in text
        assert "AI cost $0.0159 (4,820 tokens)" in str(view.query_one(RunStatus).render())
        assert KEY not in app.export_screenshot()
    assert fake_api.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_api_down_fails_the_run_with_a_notification(config, demo_path, clock, fake_api) -> None:
    fake_api.script([Status(529)] * 8)
    async with open_console(tui_config(config), demo_path, clock, api_key=KEY, base_url=fake_api.base_url) as pilot:
        app = pilot.app
        select_workflow(app, "invoice_review")
        await pilot.press("r")
        run_id = await finished(pilot, "invoice_review")
        trace = app.traces[run_id]
        assert trace.status == "failed" and trace.error
        assert trace.rate_limit_waits >= 1  # the retries were shown as waits
        assert any(message.startswith(f"Monthly invoice review #{run_id} failed") for message in messages(app))
        await wait_until(pilot, lambda: isinstance(app.screen, LiveScreen), what="the live view")
        assert "failed" in str(app.screen.query_one(RunStatus).render())
        await pilot.press("escape", "h")  # the console carries on
        assert isinstance(app.screen, HistoryScreen)


async def test_a_locked_database_is_a_notification(config, demo_path, clock, monkeypatch: pytest.MonkeyPatch) -> None:
    async def locked(self, **_: object) -> list[dict[str, object]]:
        raise sqlite3.OperationalError("database is locked")

    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        monkeypatch.setattr(HistoryStore, "list_runs", locked)
        await pilot.press("h")
        await wait_until(pilot, lambda: any("database is locked" in m for m in messages(app)), what="the notification")
        assert isinstance(app.screen, HistoryScreen) and app.is_running
        await pilot.press("escape")
        select_workflow(app, "referral_check")
        await pilot.press("r")  # runs still work (the dashboard's refresh fails too, and says so)
        assert app.traces[await finished(pilot, "referral_check")].status == "succeeded"
        await wait_until(pilot, lambda: any(m.startswith("refresh the dashboard failed") for m in messages(app)),
                         what="the refresh failure")


async def test_the_mouse_selects_rows_and_presses_footer_keys(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        table = app.screen.query_one("#workflows", DataTable)
        await pilot.click(table, offset=(4, 4))  # the third workflow's row
        assert app.screen.selected == list(config.workflows)[2]
        footer = app.screen.query_one(KeyFooter)
        column = footer.column_of("h")
        assert column is not None and footer.key_at(column + 2) == footer.key_at(column)  # "h History"
        await pilot.click(footer, offset=(column + 2, 0))
        assert isinstance(app.screen, HistoryScreen)


@pytest.mark.skipif(os.name != "posix", reason="needs a POSIX pseudo-terminal")
def test_the_real_console_starts_with_its_flags_and_quits(config, demo_path) -> None:
    from gymconsole.bench.tui import spawn_console

    seconds, code, output = spawn_console(["--config", str(ROOT / "config.toml"), "--db", str(demo_path),
                                           "--offline", "--dry-run"], until=b"DRY RUN", timeout=30)
    assert code == 0, output[-2000:]
    assert seconds < 30 and b"OFFLINE" in output and b"DEMO" in output
    assert b"Traceback" not in output


def test_the_console_does_not_import_the_sdk_before_a_claude_request() -> None:
    import subprocess

    code = ("import sys; from gymconsole.cli import build_parser; build_parser(); "
            "import gymconsole.tui.app, gymconsole.tui.screens.live, gymconsole.tui.screens.history, "
            "gymconsole.engine.services; print('anthropic' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"
