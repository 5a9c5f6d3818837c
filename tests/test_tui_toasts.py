"""A running count is one toast that changes in place, however fast the counts come: removing the last toast
before Textual had handled the message that adds it left both on screen (seen in test_longrun under load)."""

from __future__ import annotations

from types import SimpleNamespace

from helpers_tui import open_console, tui_config

from gymconsole.tui.busy import RENEW_SECONDS, ConsoleWaitNote


def toasts(app, words: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications if words in n.message]


async def test_approvals_saved_back_to_back_leave_one_notice_with_the_last_count(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        for approval_id in (1, 2, 3):  # nobody at the desk; three requests saved before the app handles a message
            app.asker._saved(SimpleNamespace(approval_id=approval_id))
        await pilot.pause()
        assert toasts(app, "Pending approvals") == [
            "3 approvals came in while nobody answered: they wait in Pending approvals (a). "
            "No more pop up until a key is pressed."]


async def test_a_long_database_wait_is_one_toast_that_counts_up(config, demo_path, clock) -> None:
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        note = ConsoleWaitNote(app, limit_seconds=120)
        for waited in (1.0, 1.0 + RENEW_SECONDS, 1.0 + 2 * RENEW_SECONDS):
            note(waited)
        await pilot.pause()
        assert len(toasts(app, "database")) == 1 and "11" in toasts(app, "database")[0]
        note(None)
        await pilot.pause()
        assert toasts(app, "database") == ["The database is free again."]
