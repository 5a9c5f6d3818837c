"""The README's global keys on every screen, modals included, at 80x24: `q` and `ctrl+q` quit alike, `d` toggles
dry run, and no letter means two things from one screen to the next.  On the way, the approval modal at 80x24
shows the whole request, with the deny-reason box open as well."""

from __future__ import annotations

from typing import Any

from helpers_tui import finished, no_cursor_blink, open_console, select_workflow, settle, tui_config, wait_until
from textual.binding import Binding
from textual.widgets import Input

from test_tui_hostile import screen_text

from gymconsole.tui.app import GymConsoleApp
from gymconsole.tui.screens.approval import ApprovalModal
from gymconsole.tui.screens.config_view import ConfigScreen
from gymconsole.tui.screens.dashboard import DashboardScreen
from gymconsole.tui.screens.history import HistoryScreen
from gymconsole.tui.screens.ask import AskScreen
from gymconsole.tui.screens.import_screen import ConfirmImport, ImportScreen
from gymconsole.tui.screens.live import LiveScreen
from gymconsole.tui.screens.pending import PendingScreen
from gymconsole.tui.screens.replay import ReplayScreen
from gymconsole.tui.screens.rules import RulesScreen
from gymconsole.tui.widgets.plan_view import PlanItems

__all__ = ["no_cursor_blink"]
GLOBAL = {"q": "quit", "h": "open_history", "a": "open_approvals", "c": "open_config", "l": "open_live",
          "d": "toggle_dry_run"}
SCREENS = (DashboardScreen, LiveScreen, HistoryScreen, ReplayScreen, PendingScreen, RulesScreen, ConfigScreen,
           ImportScreen, ApprovalModal)
YES_NO = {"approve": "yes", "apply": "yes", "answer(True)": "yes", "deny": "no", "answer(False)": "no"}
"""`y` is "yes, do what this screen shows" (approve the ticked targets, apply the previewed file) and `n` is "no"."""


def _letters(screen_type: type) -> dict[str, str]:
    """The single-letter keys a screen binds, and the action of each."""
    out = {}
    for binding in screen_type.BINDINGS:
        assert isinstance(binding, Binding)
        for key in binding.key.split(","):
            if len(key) == 1 and key.isalpha():
                action = binding.action.removeprefix("app.")
                out[key] = YES_NO.get(action, action)
    return out


def test_no_letter_means_two_things() -> None:
    meaning: dict[str, tuple[str, str]] = {key: (action, "everywhere") for key, action in GLOBAL.items()}
    for screen_type in (*SCREENS, ConfirmImport, AskScreen):
        for key, action in _letters(screen_type).items():
            if key in meaning:
                assert meaning[key][0] == action, f"{key!r}: {meaning[key]} and {action} on {screen_type.__name__}"
            meaning[key] = (action, screen_type.__name__)


async def _globals_work_here(pilot: Any, quits: list[str]) -> None:
    """q and ctrl+q reach the same quit; d turns dry run on and off (unless typing in a text box)."""
    app: GymConsoleApp = pilot.app
    where = type(app.screen).__name__
    typing = isinstance(app.focused, Input)
    keys = ["ctrl+q"] if typing else ["q", "ctrl+q"]
    quit_key = "^q Quit" if typing else "q Quit"

    def footer() -> str:  # a modal's is inside it, on its last two lines
        return "\n".join([line for line in screen_text(app).splitlines() if line.strip()][-2:])

    # even in 80 columns; waited for, as a modal on a loaded machine may not have drawn its footer yet
    await wait_until(pilot, lambda: quit_key in footer(), what=f"{quit_key!r} in the footer of {where}", timeout=10)
    for key in keys:
        count = len(quits)
        await pilot.press(key)
        await wait_until(pilot, lambda: len(quits) == count + 1, what=f"{key} on {where}", timeout=10)
    if not typing:
        before = app.dry_run_mode
        await pilot.press("d")
        await wait_until(pilot, lambda: app.dry_run_mode is not before, what=f"d on {where}", timeout=10)
        await pilot.press("d")
        await wait_until(pilot, lambda: app.dry_run_mode is before, what=f"d again on {where}", timeout=10)
    assert type(app.screen).__name__ == where


def _all_of_the_request_shows(modal: ApprovalModal) -> None:
    """At 80x24: the action and counts, five targets or more, three lines of the message as sent, the keys."""
    shown = screen_text(modal.app)
    plan = modal.plan
    assert plan.message and len(plan.items) >= 5
    assert plan.action in shown and f"{len(plan.items)} targets" in shown and f"of {len(plan.items)} ticked" in shown
    assert modal.query_one(PlanItems).scrollable_content_region.height >= 5
    assert shown.count("[x] ") >= 5
    pane = modal.query_one(".plan-target-scroll")
    assert pane.scrollable_content_region.height >= 3
    first_words = " ".join(plan.items[0].detail["text"].split()[:6])
    assert first_words in " ".join(shown.split()), shown
    assert ("y Approve ticked" in shown and "n Deny" in shown) or "enter denies" in shown


async def _open(pilot: Any, key: str, screen_type: type) -> None:
    await pilot.press(key)
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, screen_type), what=screen_type.__name__,
                     timeout=20)


async def test_global_keys_work_on_every_screen_and_modal_at_80x24(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock, size=(80, 24)) as pilot:
        app: GymConsoleApp = pilot.app
        quits: list[str] = []
        app.action_quit = lambda: quits.append(type(app.screen).__name__)  # type: ignore[method-assign]
        await _globals_work_here(pilot, quits)
        select_workflow(app, "past_due_monitoring")
        await _open(pilot, "r", ApprovalModal)
        await _globals_work_here(pilot, quits)
        await pilot.press("h")  # the request comes first: it stays on screen and says so
        await pilot.pause()
        assert isinstance(app.screen, ApprovalModal)
        _all_of_the_request_shows(app.screen)
        await pilot.press("n")  # the reason box opens: the targets and the message stay in view
        await wait_until(pilot, lambda: "enter denies" in screen_text(app), what="the reason box")
        _all_of_the_request_shows(app.screen)
        while not any(t.workflow == "past_due_monitoring" and t.finished for t in app.traces.values()):
            if isinstance(app.screen, ApprovalModal):
                await pilot.press("n", "enter")
            await pilot.pause()
        await finished(pilot, "past_due_monitoring")
        await _open(pilot, "l", LiveScreen)
        await _globals_work_here(pilot, quits)
        await _open(pilot, "h", HistoryScreen)
        await settle(pilot)
        app.screen.query_one("DataTable").focus()
        await _globals_work_here(pilot, quits)
        await _open(pilot, "enter", ReplayScreen)
        await _globals_work_here(pilot, quits)
        await _open(pilot, "a", PendingScreen)
        await _globals_work_here(pilot, quits)
        await _open(pilot, "s", RulesScreen)
        await _globals_work_here(pilot, quits)
        await _open(pilot, "c", ConfigScreen)
        await _globals_work_here(pilot, quits)
        await _open(pilot, "escape", DashboardScreen)
        await _open(pilot, "i", ImportScreen)
        await _globals_work_here(pilot, quits)  # the path box has the focus: ctrl+q still quits
        app.screen.query_one("DataTable").focus()
        await _globals_work_here(pilot, quits)
        assert set(quits) >= {t.__name__ for t in SCREENS}
