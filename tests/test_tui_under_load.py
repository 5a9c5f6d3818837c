"""The console while runs keep arriving: what is hidden waits until it is shown, what is shown stays quick.

Checked by structure (what was drawn, what was built), never by timing; the key and screen-open
times under load are in ``make bench`` (soak section).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from helpers_tui import finished, no_cursor_blink, open_console, tui_config, wait_until
from textual.widgets import DataTable, Tab, Tabs
from textual.widgets._footer import FooterKey

from gymconsole.tui.screens.dashboard import DashboardScreen
from gymconsole.tui.screens.history import HistoryScreen
from gymconsole.tui.screens.live import LiveScreen, tab_id
from gymconsole.tui.screens.pending import PendingScreen
from gymconsole.tui.widgets.key_footer import KeyFooter
from gymconsole.tui.widgets.run_view import NarrationLog, RunStatus, RunView
from gymconsole.tui.widgets.spend_panel import SpendPanel

__all__ = ["no_cursor_blink"]


def recent_run_ids(dashboard: DashboardScreen) -> list[str]:
    table = dashboard.query_one("#recent-runs", DataTable)
    return [str(key.value) for key in table.rows]


async def test_the_hidden_dashboard_draws_what_changed_once_it_is_shown_again(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        spend = dashboard.query_one(SpendPanel)
        await wait_until(pilot, lambda: spend.report is not None, what="the costs")
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, HistoryScreen), what="the history screen")
        drawn_before = recent_run_ids(dashboard)
        report_before = spend.report
        app.action_run_workflow("invoice_review")  # from the palette: the history stays on top
        run_id = await finished(pilot, "invoice_review")
        await wait_until(pilot, lambda: app.state is not None and any(r["id"] == run_id for r in app.state.recent),
                         what="the snapshot with the new run")
        await app.workers.wait_for_complete()
        # Covered by the history screen: neither its tables nor its costs were redrawn.
        assert recent_run_ids(dashboard) == drawn_before and spend.report is report_before
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is dashboard, what="the dashboard again")
        await wait_until(pilot, lambda: recent_run_ids(dashboard)[:1] == [str(run_id)], what="the run listed")
        await wait_until(pilot, lambda: spend.report is not report_before, what="the costs reloaded")



async def test_the_live_and_pending_screens_build_their_footer_keys_once_per_opening(
        config, demo_path, clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Textual's Footer composes empty and builds its keys again once the screen reports its bindings: every key
    mounted and styled twice each time these screens (new on every visit) open."""
    built: list[FooterKey] = []
    original = FooterKey.__init__

    def counting(self: FooterKey, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(FooterKey, "__init__", counting)
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        for key, kind in (("l", LiveScreen), ("a", PendingScreen)):
            built.clear()
            await pilot.press(key)
            await wait_until(pilot, lambda: isinstance(app.screen, kind) and bool(  # KeyFooter: keys, no widgets
                app.screen.query(FooterKey) or app.screen.query(KeyFooter).first().keys),
                             what=f"the {kind.__name__} and its keys")
            await app.workers.wait_for_complete()
            await pilot.pause()
            shown = list(app.screen.query(FooterKey))
            assert built == shown, f"{kind.__name__}: {len(built)} keys built for {len(shown)} shown"
            await pilot.press("escape")


async def two_runs_on_the_live_screen(pilot: Any) -> tuple[LiveScreen, int, int]:
    """invoice_review then referral_check, run from the dashboard, on the live screen the first one opened."""
    app = pilot.app
    app.action_run_workflow("invoice_review")
    first = await finished(pilot, "invoice_review")
    await wait_until(pilot, lambda: isinstance(app.screen, LiveScreen), what="the live view")
    live = app.screen
    app.action_run_workflow("referral_check")
    second = await finished(pilot, "referral_check")
    await wait_until(pilot, lambda: live.current_run() == second, what="the second run shown")
    return live, first, second


async def test_one_view_draws_each_run_the_live_screen_shows(config, demo_path, clock) -> None:
    """A new run, or another tab chosen, is drawn in the view already there (a view per run was most of what a busy
    console built and threw away); each run is drawn whole from its own trace, nothing left of the one before."""
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        live, first, second = await two_runs_on_the_live_screen(pilot)
        view = live.query_one(RunView)

        def drawn(run_id: int) -> bool:
            trace = app.traces[run_id]
            table = view.query_one(DataTable)
            return (view.trace is trace and table.row_count == len(trace.calls)
                    and [str(key.value) for key in table.rows] == list(trace.calls)
                    and f"#{run_id}" in str(view.query_one(RunStatus).render()))

        await wait_until(pilot, lambda: drawn(second), what="the second run drawn")
        assert live.query(RunView).nodes == [view]
        narration = "\n".join(view.query_one(NarrationLog).lines)
        assert "referral" in narration.lower() and "invoice" not in narration.lower()
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: live.current_run() == first and drawn(first), what="the first run again")
        assert live.query(RunView).nodes == [view]


async def test_the_live_screen_keeps_the_managers_place_and_follows_runs_under_a_modal(config, demo_path, clock) -> None:
    """Back from the palette, the run the manager chose is still shown (not the newest); while a modal such as an
    approval covers the screen, it stays in sight, and a run starting behind it still gets its tab."""
    from textual.screen import ModalScreen

    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        live, first, _ = await two_runs_on_the_live_screen(pilot)
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: live.current_run() == first, what="the first run chosen")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: app.screen is not live, what="the palette")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is live, what="back on the live screen")
        await app.workers.wait_for_complete()
        assert live.current_run() == first
        modal: ModalScreen[None] = ModalScreen()
        modal.styles.background = "black 60%"  # see-through, as the approval modal is
        app.push_screen(modal)
        await wait_until(pilot, lambda: app.screen is not live, what="a modal over the live screen")
        app.action_run_workflow("door_access")
        third = await finished(pilot, "door_access")
        await wait_until(pilot, lambda: live._tab(third) is not None, what="the third run's tab, under the modal")


async def a_run_then_the_history_over_it(pilot: Any) -> tuple[LiveScreen, int]:
    """invoice_review run from the dashboard (its live screen opens), then the history screen on top: a run
    starting now does not open the live screen by itself."""
    app = pilot.app
    app.action_run_workflow("invoice_review")
    first = await finished(pilot, "invoice_review")
    await wait_until(pilot, lambda: isinstance(app.screen, LiveScreen), what="the live view")
    live = app.screen
    await pilot.press("h")
    await wait_until(pilot, lambda: isinstance(app.screen, HistoryScreen), what="the history screen")
    return live, first


async def test_the_live_screen_is_built_once_and_catches_up_when_shown_again(config, demo_path, clock) -> None:
    """Built on its first opening and kept: runs that came while it was hidden get their tabs (and the newest is
    drawn) when it is shown again, not while nobody sees it."""
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        live, first = await a_run_then_the_history_over_it(pilot)
        app.action_run_workflow("referral_check")
        second = await finished(pilot, "referral_check")
        await app.workers.wait_for_complete()
        assert [tab.id for tab in live.query(Tab)] == [tab_id(first)]  # nothing drawn while hidden
        await pilot.press("l")
        await wait_until(pilot, lambda: app.screen is live and live.current_run() == second, what="the same screen")
        assert [tab.id for tab in live.query(Tab)] == [tab_id(first), tab_id(second)]
        view = live.query_one(RunView)
        await wait_until(pilot, lambda: view.trace.run_id == second
                         and view.query_one(DataTable).row_count == len(app.traces[second].calls),
                         what="the newest run drawn")


async def test_runs_that_come_and_go_while_the_live_screen_catches_up_are_no_trouble(
        config, demo_path, clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shown again, the live screen adds a tab per run it missed, waiting for each to mount; meanwhile the app may
    start and forget runs (measured in the soak: the catch-up crashed the console, the runs changed under it)."""
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        live, first = await a_run_then_the_history_over_it(pilot)
        app.action_run_workflow("referral_check")
        second = await finished(pilot, "referral_check")
        add_tab = Tabs.add_tab

        def add_tab_while_runs_change(self: Tabs, tab: Any, **kwargs: Any) -> Any:
            traces = app.traces
            if first in traces:  # a run forgotten and another started while the tab mounts
                del traces[first]
                traces[second + 100] = replace(traces[second], run_id=second + 100)
            return add_tab(self, tab, **kwargs)

        monkeypatch.setattr(Tabs, "add_tab", add_tab_while_runs_change)
        await pilot.press("l")
        await wait_until(pilot, lambda: app.screen is live and live.current_run() == second, what="the screen shown")
        assert app.return_code is None and tab_id(second) in [tab.id for tab in live.query(Tab)]
