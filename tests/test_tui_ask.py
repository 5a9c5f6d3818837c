"""The console's assistant prompt: ? from any screen, the answer streams with its table drawn, an act asks."""

from __future__ import annotations

import io

from fakeapi import Reply, Text, ToolUse
from helpers_engine import KEY
from helpers_tui import no_cursor_blink, open_console, tui_config, wait_until
from rich.console import Console
from textual.widgets import Static

from gymconsole.engine.saved import SavedQuestions
from gymconsole.tui.screens.approval import ApprovalModal
from gymconsole.tui.screens.ask import AskScreen

__all__ = ["no_cursor_blink"]


def _first_hit(app) -> str:
    from textual.widgets import OptionList

    results = app.screen.query(OptionList)
    if not results or not results.first().option_count:
        return ""
    return str(results.first().get_option_at_index(0).prompt)


def drawn(static: Static, width: int = 76) -> str:
    """What a Static shows, drawn as the terminal would draw it."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


async def test_ask_from_any_screen_streams_a_table_and_an_act_asks(config, demo_path, clock, fake_api) -> None:
    fake_api.script([
        Reply([ToolUse("query_gym", {"sql": "SELECT first_name, balance FROM members ORDER BY balance DESC LIMIT 2"})]),
        Reply([Text("Largest balances:\n\n| Name | Balance |\n|---|---|\n| O'Brien [/vip] | $310 |\n\nThat is one.",
                    chunks=4)]),
        Reply([ToolUse("suspend_door_access", {"member_ids": [2]})]),
        Reply([Text("Not suspended: you declined.")]),
    ])
    async with open_console(tui_config(config), demo_path, clock, size=(80, 24), api_key=KEY,
                            base_url=fake_api.base_url) as pilot:
        app = pilot.app
        await pilot.press("h")  # from the history screen
        await pilot.press("question_mark")
        assert isinstance(app.screen, AskScreen)
        await pilot.press(*"who owes most?", "enter")
        screen = app.screen
        await wait_until(pilot, lambda: screen.last_run is not None, what="the answer")
        text = drawn(screen.query(".ask-answer").last())
        assert "O'Brien [/vip]" in text and "┃Name" in text and "| O'Brien" not in text  # a table, not pipes
        assert "query the gym's data: 2 rows" in text and "That is one." in text

        # The manager likes it: ctrl+s saves it under a name, with the query its answer used.
        await pilot.press("ctrl+s", *"top-owed", "enter")
        await wait_until(pilot, lambda: "saved as top-owed" in str(screen.query_one("#ask-status", Static).content),
                         what="the saved question")
        (saved,) = await SavedQuestions(app.services.db, clock).list()
        assert saved["name"] == "top-owed" and saved["question"] == "who owes most?"
        assert saved["queries"] == ["SELECT first_name, balance FROM members ORDER BY balance DESC LIMIT 2"]

        # A follow-up that acts: the approval modal asks; n denies.
        await pilot.press(*"suspend member 2", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalModal), what="the approval modal")
        await pilot.press("n", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen) and not screen.waiting, what="the end")
        follow = fake_api.requests[2].json["messages"]
        assert follow[0]["content"] == "who owes most?" and follow[1]["role"] == "assistant"
        assert app.traces[screen.last_run].calls
        assert [c.decision for c in app.traces[screen.last_run].calls.values()] == ["denied"]


async def test_without_a_key_it_says_so_and_offers_saved_questions(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock, size=(80, 24)) as pilot:
        app = pilot.app
        await SavedQuestions(app.services.db, clock).save("top-debts", "who owes most?",
                                                          ["SELECT id, balance FROM members ORDER BY balance DESC LIMIT 2"])
        await pilot.press("slash")
        screen = app.screen
        # Said as the prompt opens, before anything is typed; and again for a question typed anyway.
        await wait_until(pilot, lambda: screen.query(".ask-answer") and "Asking needs Claude" in drawn(
            screen.query(".ask-answer").last()), what="the offline message")
        assert "top-debts: who owes most?" in drawn(screen.query(".ask-answer").last())
        await pilot.press(*"how many members?", "enter")
        await wait_until(pilot, lambda: len(screen.query(".ask-answer")) == 2 and "needs Claude" in drawn(
            screen.query(".ask-answer").last()), what="the offline message again")
        await pilot.press("ctrl+p", *"top-debts")  # the palette lists saved questions
        await wait_until(pilot, lambda: _first_hit(app) and "Saved question: top-debts" in _first_hit(app),
                         what="the palette's hit")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen.query(".ask-answer")) == 3, what="the saved question's table")
        assert "┃id" in drawn(screen.query(".ask-answer").last())


async def test_rules_are_added_and_revoked_from_the_approvals_screen(config, demo_path, clock) -> None:
    from textual.widgets import DataTable, Input

    from gymconsole.engine.rules import RuleBook
    from gymconsole.tui.screens.rules import RulesScreen

    async with open_console(tui_config(config), demo_path, clock, size=(80, 24)) as pilot:
        app = pilot.app
        await pilot.press("a", "s")
        assert isinstance(app.screen, RulesScreen)
        screen = app.screen
        screen.query_one("#rule-input", Input).value = 'restore_door_access --when "balance <= 0" --per-day 5 --days 120'
        await pilot.press("plus", "enter")
        await app.workers.wait_for_complete()
        assert not screen.rules  # 120 days: refused, nothing added
        screen.query_one("#rule-input", Input).value = 'restore_door_access --when "balance <= 0" --per-day 5 --days 30'
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen.rules) == 1, what="the new rule")
        assert screen.query_one("#rules-table", DataTable).row_count == 1
        assert "restore door access when balance <= 0, up to 5 a day" in drawn(screen.query_one("#rules-detail"))
        screen.query_one("#rules-table", DataTable).focus()
        await pilot.press("minus")
        await wait_until(pilot, lambda: not screen.rules, what="the revocation")
        (rule,) = await RuleBook(app.services.db, app.config, clock).list(include_inactive=True)
        assert rule.revoked_by == "tester"
        audit = await app.services.db.fetch_all("SELECT decision, actor, via FROM audit_log ORDER BY id")
        assert audit == [{"decision": "rule_added", "actor": "tester", "via": "tui"},
                         {"decision": "rule_revoked", "actor": "tester", "via": "tui"}]


async def test_question_mark_and_slash_open_the_prompt_from_every_screen(config, demo_path, clock) -> None:
    """From each screen (not typing in a field), ? or / opens the prompt and escape goes back to that screen."""
    from gymconsole.tui.screens.rules import RulesScreen

    async with open_console(tui_config(config), demo_path, clock, size=(80, 24)) as pilot:
        app = pilot.app
        openers = [lambda: None, app.action_open_history, app.action_open_approvals,
                   lambda: app.push_screen(RulesScreen()), app.action_open_config, app.action_open_live]
        for number, open_screen in enumerate(openers):
            open_screen()
            await pilot.pause()
            if app.focused is not None and app.focused.__class__.__name__ == "Input":
                app.set_focus(None)  # in a text field ? is a character; the screen's own keys apply elsewhere
            before = app.screen
            await pilot.press("question_mark" if number % 2 else "slash")
            assert isinstance(app.screen, AskScreen), type(before).__name__
            await pilot.press("escape")
            assert app.screen is before
            if len(app.screen_stack) > 1:
                app.pop_screen()


async def test_ctrl_x_stops_a_question_while_the_input_has_focus(config, demo_path, clock, fake_api) -> None:
    from fakeapi import Hang

    fake_api.script([Hang(30)])
    async with open_console(tui_config(config), demo_path, clock, size=(80, 24), api_key=KEY,
                            base_url=fake_api.base_url) as pilot:
        app = pilot.app
        await pilot.press("question_mark", *"who owes most?", "enter")
        screen = app.screen
        await wait_until(pilot, lambda: fake_api.requests, what="the request")
        assert app.focused is screen.query_one("#ask-input")
        await pilot.press("ctrl+x")
        await wait_until(pilot, lambda: not screen.waiting, what="the stop")
        assert "cancelled" in str(screen.query_one("#ask-status", Static).content)
