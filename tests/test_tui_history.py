"""The history browser: pages, filters, search, runs that touched a member, and replay."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import pytest
from helpers_tui import no_cursor_blink, open_console, seed_history, tui_config, wait_until
from textual.color import Color
from textual.widgets import DataTable, Input, Select

from gymconsole.tui.screens import history as history_screen
from gymconsole.tui.screens.history import COLUMNS, HistoryScreen
from gymconsole.tui.screens.replay import ReplayScreen
from gymconsole.tui.widgets import page_table
from gymconsole.tui.widgets.key_footer import KeyFooter
from gymconsole.tui.widgets.page_table import FastPageTable, PageTable
from gymconsole.tui.widgets.run_view import NarrationLog, RunView

__all__ = ["no_cursor_blink"]

RUNS = [
    {"workflow": "door_access", "summary": "suspended 3", "member": 11},
    {"workflow": "invoice_review", "summary": "flagged 2 invoices", "member": 12},
    {"workflow": "door_access", "status": "failed", "summary": "", "error": "database is locked", "member": 11},
    {"workflow": "referral_check", "summary": "rewarded O'Brien [/vip]", "member": 13, "minutes": 60 * 24},
    {"workflow": "door_access", "summary": "restored 1", "member": 14},
]


def shown_ids(screen: HistoryScreen) -> list[int]:
    table = screen.query_one("#history-table", DataTable)
    return [int(str(key.value)) for key in table.rows]


async def open_history(pilot: Any) -> HistoryScreen:
    await pilot.press("h")
    screen = pilot.app.screen
    assert isinstance(screen, HistoryScreen)
    await wait_until(pilot, lambda: "page 1" in str(screen.query_one("#history-status").render()), what="a page")
    return screen


async def refiltered(pilot: Any, screen: HistoryScreen, expected: list[int]) -> None:
    await wait_until(pilot, lambda: shown_ids(screen) == expected, what=f"runs {expected}")


async def test_filters_search_and_member(config, demo_path, clock) -> None:
    ids = await seed_history(demo_path, clock, RUNS)
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        screen = await open_history(pilot)
        assert shown_ids(screen) == ids[::-1]
        screen.query_one("#filter-workflow", Select).value = "door_access"
        await refiltered(pilot, screen, [ids[4], ids[2], ids[0]])
        screen.query_one("#filter-status", Select).value = "failed"
        await refiltered(pilot, screen, [ids[2]])
        await pilot.press("backspace")  # clear every filter
        await refiltered(pilot, screen, ids[::-1])
        await pilot.press("f", *"[/vip]", "enter")  # markup-like text is searched as text
        await refiltered(pilot, screen, [ids[3]])
        row = screen.query_one("#history-table", DataTable).get_row(str(ids[3]))
        assert "O'Brien [/vip]" in str(row[COLUMNS.index("summary")])
        await pilot.press("backspace", "m", *"11", "enter")  # every run that touched member 11
        await refiltered(pilot, screen, [ids[2], ids[0]])
        await pilot.press("backspace")
        since = screen.query_one("#filter-since", Input)
        since.focus()
        await pilot.press(*"2026-11-03", "enter")  # the fourth run is a day later
        await refiltered(pilot, screen, [ids[4], ids[3]])
        since.value = "2026-13-45"
        since.focus()
        await pilot.press("enter")
        assert any("Not a date" in n.message for n in pilot.app._notifications)


async def test_pages_with_keyset_pagination(config, demo_path, clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_screen, "PAGE_SIZE", 2)
    ids = await seed_history(demo_path, clock, RUNS)
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        screen = await open_history(pilot)
        assert shown_ids(screen) == [ids[4], ids[3]]
        await pilot.press("right_square_bracket")
        await refiltered(pilot, screen, [ids[2], ids[1]])
        await pilot.press("right_square_bracket")
        await refiltered(pilot, screen, [ids[0]])
        await pilot.press("left_square_bracket")
        await refiltered(pilot, screen, [ids[2], ids[1]])


async def test_a_slow_page_says_loading_but_not_at_once(config, demo_path, clock,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The status line says "Loading…" only while a page is slow to come: said at once, Textual drew it (by then
    saying "page 2") a frame before the rows."""
    monkeypatch.setattr(history_screen, "PAGE_SIZE", 2)
    monkeypatch.setattr(history_screen, "LOADING_SAID_AFTER", 0.02)
    ids = await seed_history(demo_path, clock, RUNS)
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        screen = await open_history(pilot)
        history, gate = pilot.app.services.history, asyncio.Event()
        list_runs = history.list_runs

        async def slow_list_runs(**query: Any) -> Any:
            await gate.wait()
            return await list_runs(**query)

        monkeypatch.setattr(history, "list_runs", slow_list_runs)
        status = screen.query_one("#history-status")
        screen.action_next_page()
        assert str(status.render()).startswith("page 1 · 2 runs"), "page 1 is still what is shown"
        await wait_until(pilot, lambda: str(status.render()) == "Loading…", what="Loading… for a slow page")
        assert shown_ids(screen) == [ids[4], ids[3]]
        gate.set()
        await refiltered(pilot, screen, [ids[2], ids[1]])
        assert str(status.render()).startswith("page 2 · 2 runs")


@pytest.mark.parametrize("meanwhile", ["a late answer for page 1", "a resize"])
async def test_a_slow_page_says_loading_whatever_comes_meanwhile(config, demo_path, clock, meanwhile: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the answer to the page last asked for stops its "Loading…": not a late answer for the page before
    (asked for just before), nor a quiet reload for a new size (which asks for the awaited page, not the shown)."""
    monkeypatch.setattr(history_screen, "LOADING_SAID_AFTER", 0.1)
    ids = await seed_history(demo_path, clock, [{"workflow": "door_access", "summary": f"run {n}"} for n in range(40)])
    async with open_console(tui_config(config), demo_path, clock, size=(100, 30)) as pilot:
        screen = await open_history(pilot)
        history, gate = pilot.app.services.history, asyncio.Event()
        list_runs = history.list_runs
        first = shown_ids(screen)
        page_1 = await list_runs(limit=len(first), before_id=None)

        async def slow_list_runs(**query: Any) -> Any:
            await gate.wait()
            return await list_runs(**query)

        monkeypatch.setattr(history, "list_runs", slow_list_runs)
        status = screen.query_one("#history-status")
        await pilot.press("right_square_bracket")
        if meanwhile == "a resize":
            await pilot.resize_terminal(80, 24)
        else:
            screen.post_message(HistoryScreen.Loaded(page_1, 0, screen.filter, len(first)))
        await pilot.pause()  # (the page before's answer taken: it said "page 1", and said it again if late)
        await wait_until(pilot, lambda: str(status.render()) == "Loading…", timeout=5, what="Loading… for page 2")
        assert shown_ids(screen) == first
        gate.set()
        await wait_until(pilot, lambda: str(status.render()).startswith("page 2 ·"), what="page 2")
        assert shown_ids(screen) == ids[::-1][len(first):len(first) + screen._page_size()]


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_a_page_is_what_the_table_shows(config, demo_path, clock, size: tuple[int, int]) -> None:
    ids = await seed_history(demo_path, clock, [{"workflow": "door_access", "summary": f"run {n}"} for n in range(40)])
    async with open_console(tui_config(config), demo_path, clock, size=size) as pilot:
        screen = await open_history(pilot)
        table = screen.query_one("#history-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == screen._page_size(), what="a page that fits")
        first = shown_ids(screen)
        assert 5 <= len(first) < 40 and first == ids[::-1][:len(first)]
        assert table.max_scroll_y == 0, "every row of the page is on screen: nothing loaded that is not shown"
        await pilot.press("right_square_bracket")
        await refiltered(pilot, screen, ids[::-1][len(first):2 * len(first)])
        await pilot.press("left_square_bracket")
        await refiltered(pilot, screen, first)


async def test_open_a_run_and_replay_its_trace(config, demo_path, clock) -> None:
    ids = await seed_history(demo_path, clock, RUNS)
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        screen = await open_history(pilot)
        table = screen.query_one("#history-table", DataTable)
        table.move_cursor(row=table.get_row_index(str(ids[2])))
        await pilot.press("enter")
        replay = app.screen
        assert isinstance(replay, ReplayScreen)
        await wait_until(pilot, lambda: bool(replay.query(RunView)), what="the replayed run")
        view = replay.query_one(RunView)
        await wait_until(pilot, lambda: view.query_one(DataTable).row_count == 1, what="its tool call")
        assert str(view.query_one(DataTable).get_row("c1")[1]) == "look up a member"
        assert view.trace.status == "failed" and view.trace.usage["input"] == 1200
        assert any("member #11" in line for line in view.query_one(NarrationLog).lines)
        assert "database is locked" in str(replay.query_one("#replay-record").render())
        await pilot.press("escape")
        assert app.screen is screen


async def test_built_while_idle_and_shown_again_without_rebuilding(config, demo_path, clock) -> None:
    """The console lays the screen out with its first page before h is pressed; a later visit reuses its widgets
    (the footer's keys are not rebuilt) and still follows a theme changed while it was hidden."""
    ids = await seed_history(demo_path, clock, RUNS)
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        await wait_until(pilot, lambda: app.is_screen_installed("history") and shown_ids(app.get_screen("history"))
                         == ids[::-1], what="the history screen prepared while the dashboard shows")
        screen = await open_history(pilot)
        footer = screen.query_one(KeyFooter)
        keys = footer.keys
        assert [key.description for key in keys if key.description][:3] == ["Back", "Next", "Prev"]
        await pilot.press("escape")
        await pilot.press("h")
        await wait_until(pilot, lambda: app.screen is screen and "page 1" in str(
            screen.query_one("#history-status").render()), what="the screen again")
        assert screen.query_one(KeyFooter) is footer and footer.keys is keys, "the same keys: the footer was not rebuilt"
        dark_background = screen.styles.background
        await pilot.press("escape")
        app.theme = "textual-light"
        await pilot.pause()
        await pilot.press("h")
        await wait_until(pilot, lambda: app.screen is screen, what="the screen after a theme change")
        assert screen.styles.background == Color.parse(app.current_theme.background)
        assert screen.styles.background != dark_background


async def test_with_another_textual_the_table_is_datatables_own(config, demo_path, clock, caplog: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast drawing leans on DataTable's private members, checked against one Textual: with any other the
    history's table is a plain DataTable (rows, cursor and pages as before), and the log says so once."""
    monkeypatch.setattr(page_table, "CHECKED_TEXTUAL", "8.2.7")
    # A fresh once-a-process check, against the version set here (the process's own is left as it was).
    monkeypatch.setattr(page_table, "checked_textual", functools.cache(page_table.checked_textual.__wrapped__))
    monkeypatch.setattr(history_screen, "PAGE_SIZE", 2)
    ids = await seed_history(demo_path, clock, RUNS)
    with caplog.at_level(logging.WARNING, logger=page_table.__name__):
        async with open_console(tui_config(config), demo_path, clock) as pilot:
            screen = await open_history(pilot)
            table = screen.query_one("#history-table", PageTable)
            assert not isinstance(table, FastPageTable)
            assert shown_ids(screen) == [ids[4], ids[3]]
            await pilot.press("down")
            assert table.cursor_row == 1
            await pilot.press("right_square_bracket")
            await refiltered(pilot, screen, [ids[2], ids[1]])
            assert table.cursor_row == 0
            assert str(screen.query_one("#history-status").render()).startswith("page 2 · 2 runs")
            drawn = [strip.text for strip in table.render_lines(table.size.region)]
            assert [line.split()[1] for line in drawn[2:4]] == [str(ids[2]), str(ids[1])], drawn  # under border, header
    said = [record.getMessage() for record in caplog.records if record.name == page_table.__name__]
    assert len(said) == 1 and "not 8.2.7" in said[0], said


def test_a_screen_shown_again_is_restyled_only_if_the_css_changed() -> None:
    from types import SimpleNamespace

    from textual import events

    from gymconsole.tui.restyle import StyledFor

    app, styled = SimpleNamespace(_css_update_count=3), StyledFor()
    styled.styled(app)
    shown = [events.ScreenResume() for _ in range(3)]
    styled.resumed(app, shown[0])
    app._css_update_count = 4  # a theme changed while hidden
    styled.resumed(app, shown[1])
    del app._css_update_count  # a Textual without the count: restyled every time, as by default
    styled.resumed(app, shown[2])
    assert [event.refresh_styles for event in shown] == [False, True, True]
