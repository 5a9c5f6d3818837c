"""Extended thinking in the console: set apart from the answer, folded until opened, replayed from history,
and never written to the log."""

from __future__ import annotations

import logging

from fakeapi import RedactedThinking, Reply, Text, Thinking, ToolUse
from helpers_engine import with_workflow
from helpers_tui import finished, no_cursor_blink, open_console, select_workflow, tui_config, wait_until
from textual.widgets import DataTable

from gymconsole.config import ThinkingSetting
from gymconsole.logfile import LOG_NAME, file_handler
from gymconsole.tui.screens.history import HistoryScreen
from gymconsole.tui.screens.live import LiveScreen
from gymconsole.tui.screens.replay import ReplayScreen
from gymconsole.tui.widgets.run_view import NarrationLog
from gymconsole.tui.widgets.thinking import ThinkingView

__all__ = ["no_cursor_blink"]
KEY = "sk-ant-test-not-a-real-key-7f3a"
THOUGHT = "Referrals first; the reward window is what matters here."


def _body(view: ThinkingView) -> str:
    return str(view.query_one(".thinking-text").render())


async def test_thinking_is_folded_apart_from_the_answer_replayed_and_never_logged(
        config, demo_path, clock, fake_api, tmp_path) -> None:
    log = file_handler(tmp_path)  # the console's own log file, every level let through to it
    root = logging.getLogger()
    level, root.level = root.level, logging.DEBUG
    root.addHandler(log)
    try:
        await _thinking_run(config, demo_path, clock, fake_api)
    finally:
        root.removeHandler(log)
        root.setLevel(level)
        log.close()
    written = (tmp_path / LOG_NAME).read_text(encoding="utf-8")
    assert "referral_check" in written  # the run's own lines are there
    assert "reward window" not in written and "EqQBCgIYAhIM1gbcDa9G" not in written


async def _thinking_run(config, demo_path, clock, fake_api) -> None:
    config = with_workflow(tui_config(config), "referral_check",
                           thinking=ThinkingSetting(mode="budget", budget_tokens=2048))
    fake_api.script([
        Reply([Thinking(THOUGHT, signature="EqQBCgIYAhIM1gbcDa9G", chunks=3), ToolUse("get_referral_candidates", {})]),
        Reply([RedactedThinking("EmwKAhgBEgy3va3pzix/LafPsn4a"), Text("No rewards were due today.")]),
    ])
    async with open_console(config, demo_path, clock, size=(80, 24), api_key=KEY,
                            base_url=fake_api.base_url) as pilot:
        app = pilot.app
        select_workflow(app, "referral_check")
        await pilot.press("r")
        run_id = await finished(pilot, "referral_check")
        await wait_until(pilot, lambda: isinstance(app.screen, LiveScreen), what="the live view")
        view = app.screen.query_one(ThinkingView)
        await wait_until(pilot, lambda: view.has_class("has-thinking") and "1 redacted" in str(view.title),
                         what="the thinking panel")
        assert view.collapsed and str(view.title) == "thinking (9 words, 1 redacted)"
        narration = " ".join(app.screen.query_one(NarrationLog).lines)
        assert "No rewards were due today." in narration and "reward window" not in narration  # apart from the answer
        await pilot.click("ThinkingView CollapsibleTitle")
        await wait_until(pilot, lambda: not view.collapsed, what="the thinking unfolded")
        assert THOUGHT in _body(view) and "1 block(s) of thinking redacted" in _body(view)

        await pilot.press("escape", "h")
        await wait_until(pilot, lambda: isinstance(app.screen, HistoryScreen)
                         and app.screen.query_one("#history-table", DataTable).row_count > 0, what="history")
        table = app.screen.query_one("#history-table", DataTable)
        table.move_cursor(row=table.get_row_index(str(run_id)))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen)
                         and app.screen.query_one(ThinkingView).has_class("has-thinking"), what="the replay")
        replayed = app.screen.query_one(ThinkingView)
        assert replayed.collapsed and str(replayed.title) == "thinking (9 words, 1 redacted)"
        assert THOUGHT in _body(replayed)
