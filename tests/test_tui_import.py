"""The Import screen and the dashboard's "data as of" line, driven as the manager would at 80x24."""

from __future__ import annotations

from helpers_import import invoices_export, members_export, members_export_v2, prospects_export
from helpers_tui import no_cursor_blink, open_console, settle, tui_config, wait_until
from textual.widgets import DataTable, Input

from gymconsole.db import Database
from gymconsole.importer.service import import_file
from gymconsole.tui.screens.import_screen import ConfirmImport, ImportScreen

__all__ = ["no_cursor_blink"]


async def test_preview_then_apply_after_confirming(config, clock, tmp_path):
    db = await Database.open(config.database_path(), create=True)
    try:
        await import_file(db, config, clock, "members", members_export(tmp_path))
        await import_file(db, config, clock, "invoices", invoices_export(tmp_path))
        clock.advance(30 * 3600)  # the first imports are now 30 h old: stale
        await import_file(db, config, clock, "prospects", prospects_export(tmp_path))
    finally:
        await db.close()
    second = members_export_v2(tmp_path)
    async with open_console(tui_config(config), config.database_path(), clock, size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        line = str(app.screen.query_one("#data-freshness").render())
        assert "members 30 h old!" in line and "import a fresh export" in line
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, ImportScreen), what="import screen")
        screen = app.screen
        await settle(pilot)
        assert "STALE" in str(screen.query_one("#import-tables", DataTable).get_row("members")[5])
        screen.query_one("#import-path", Input).value = str(second)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.checked is not None, what="the preview")
        preview = str(screen.query_one("#import-result").render())
        assert "1 new, 1 changed, 7 unchanged, 0 rejected, 1 not in the latest export" in preview
        assert "Gone Member (M109)" in preview
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmImport), what="the confirmation")
        await pilot.press("n")  # changed my mind: nothing happens
        await wait_until(pilot, lambda: app.screen is screen, what="back")
        assert await _balance(app, "M102") == 3000
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmImport), what="the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: "imported" == str(screen.query_one("#import-result").border_title),
                         what="the import")
        assert await _balance(app, "M102") == 4550
        await settle(pilot)
        assert "STALE" not in str(screen.query_one("#import-tables", DataTable).get_row("members")[5])
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is not screen, what="the dashboard")
        await settle(pilot)
        # At 80 columns the stale table and the warning come first, whatever the tables' order.
        shown = app.screen.query_one("#data-freshness").render_line(0).text
        assert shown.startswith("invoices 30 h old!  import a fresh export (i) · data as of"), shown


async def _balance(app, member: str) -> int:
    assert app.services is not None
    return await app.services.db.fetch_value("SELECT balance_cents FROM members WHERE external_id = ?", [member])


async def test_an_unusable_file_is_one_line_and_changes_nothing(config, clock, tmp_path):
    db_path = config.database_path()
    db = await Database.open(db_path, create=True)
    await db.close()
    bad = tmp_path / "bad.csv"
    bad.write_text("Member ID;First Name\nM1;Ana\n", encoding="utf-8")
    async with open_console(tui_config(config), db_path, clock, size=(80, 24)) as pilot:
        app = pilot.app
        await settle(pilot)
        assert "nothing imported yet" in str(app.screen.query_one("#data-freshness").render())
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, ImportScreen), what="import screen")
        screen = app.screen
        screen.query_one("#import-path", Input).value = str(bad)
        await pilot.press("enter")
        await wait_until(pilot, lambda: "cannot be used" in str(screen.query_one("#import-result").render()),
                         what="the refusal")
        assert "missing required columns" in str(screen.query_one("#import-result").render())
        await pilot.press("y")  # nothing previewed: nothing to apply
        await pilot.pause()
        assert app.screen is screen
        assert await app.services.db.fetch_value("SELECT COUNT(*) FROM members") == 0
