"""The Import screen: each table's freshness, a dry-run preview of a file, and applying it once confirmed.

Pick the table in the list, type the export's path and press enter: the file
is checked as a dry run (counts, the first rejects with their line numbers
and reasons, conflicts with what the console owns) and nothing changes.
``a`` then asks to apply exactly that file to that table; ``y`` imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from gymconsole.tui.format import cell, local_time, one_line, theme_style
from gymconsole.tui.screens.dashboard import TYPING_QUIT

if TYPE_CHECKING:
    from gymconsole.importer.freshness import Freshness
    from gymconsole.importer.load import ImportReport
    from gymconsole.tui.app import GymConsoleApp

COLUMNS = ("table", "last import", "file", "rows", "rejected", "state")
SHOWN_REJECTS = 8


@dataclass(frozen=True)
class Checked:
    """A file previewed for a table: what applying would do."""

    table: str
    path: Path
    report: ImportReport


class ConfirmImport(ModalScreen[bool]):
    """``y`` imports the previewed file, ``n`` or escape goes back."""

    BINDINGS = [Binding("y", "answer(True)", "Import"), Binding("n", "answer(False)", "Back"),
                Binding("escape", "answer(False)", "Back", show=False), Binding("q", "app.quit", "Quit")]
    DEFAULT_CSS = """
    ConfirmImport { align: center middle; }
    #confirm-import { width: 70; max-width: 100%; height: auto; border: thick $warning; padding: 1 2;
                      background: $surface; }
    """

    def __init__(self, checked: Checked) -> None:
        super().__init__()
        self.checked = checked

    def compose(self) -> ComposeResult:
        r = self.checked.report
        text = Text()
        text.append(f"Import {self.checked.path.name} into {self.checked.table}?\n\n", "bold")
        text.append(f"{r.new:,} new, {r.changed:,} changed, {r.unchanged:,} unchanged, {r.rejected:,} rejected")
        if r.missing:
            text.append(f", {r.missing:,} marked not in the latest export")
        if r.conflict_count:
            text.append(f", {r.conflict_count:,} kept as the console has them")
        text.append("\n\ny: import   n: back", "dim")
        with Vertical(id="confirm-import"):
            yield Static(text)
        yield Footer(compact=True)

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class ImportScreen(Screen[None]):
    """Freshness per table, preview (dry run), apply after confirming."""

    # `y` ("yes, import this") like the approval keys: `a` and `p` already mean Approvals and Pause elsewhere.
    BINDINGS = [Binding("enter", "preview", "Preview"), Binding("y", "apply", "Apply…"),
                Binding("escape", "app.pop_screen", "Back"), TYPING_QUIT]
    DEFAULT_CSS = """
    #import-tables { height: 10; }
    #import-path { margin: 0 0; }
    #import-result { height: 1fr; padding: 0 1; border: round $primary 30%; border-title-color: $text-muted; }
    """

    app: GymConsoleApp

    class Done(Message):
        def __init__(self, table: str, path: Path, report: ImportReport | None, error: str | None,
                     applied: bool) -> None:
            super().__init__()
            self.table, self.path, self.report, self.error, self.applied = table, path, report, error, applied

    class FreshnessLoaded(Message):
        def __init__(self, entries: list[Freshness]) -> None:
            super().__init__()
            self.entries = entries

    def __init__(self) -> None:
        super().__init__()
        self.checked: Checked | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        table: DataTable[Text] = DataTable(id="import-tables", cursor_type="row", zebra_stripes=True)
        table.border_title = f"imported data (max age {self.app.config.safety.max_data_age_hours:g} h)"
        yield table
        yield Input(placeholder="path to the CSV export, then enter to preview (nothing changes)", id="import-path")
        result = Static(id="import-result")
        result.border_title = "preview"
        yield result
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from gymconsole.importer.tables import TABLES

        table = self.query_one("#import-tables", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        for name in TABLES:
            table.add_row(cell(name, "bold"), cell("…"), cell(""), cell(""), cell(""), cell(""), key=name)
        self.query_one("#import-result", Static).update(
            Text("Choose a table above, type the path of its export below and press enter.", "dim"))
        self.query_one("#import-path", Input).focus()
        self._load_freshness()

    @property
    def selected_table(self) -> str:
        table = self.query_one("#import-tables", DataTable)
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _load_freshness(self) -> None:
        services = self.app.services
        if services is None:
            return

        async def load() -> None:
            from gymconsole.importer.freshness import freshness

            self.post_message(self.FreshnessLoaded(await freshness(services.db, self.app.clock.now(),
                                                                   self.app.config.safety.max_data_age_hours)))

        self.run_worker(load(), name="import freshness", group="import-freshness", exclusive=True, exit_on_error=False)

    @on(FreshnessLoaded)
    def _show_freshness(self, message: FreshnessLoaded) -> None:
        table = self.query_one("#import-tables", DataTable)
        zone = self.app.config.scheduler.timezone
        for entry in message.entries:
            if entry.table not in table.rows:
                continue
            if entry.imported_at is None:
                values = [cell("never"), cell(""), cell(""), cell(""), cell("—")]
            else:
                state = (cell(f"{entry.age_hours:.0f} h old: STALE", theme_style(self.app, "error", bold=True))
                         if entry.stale else cell(f"{entry.age_hours:.0f} h old", theme_style(self.app, "success")))
                values = [cell(local_time(entry.imported_at, zone)), cell(one_line(Path(entry.file or "").name, 24)),
                          cell(f"{entry.rows:,}"), cell(f"{entry.rejected:,}"), state]
            for column, value in zip(COLUMNS[1:], values):
                table.update_cell(entry.table, column, value, update_width=True)

    @on(Input.Submitted, "#import-path")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_preview()

    def action_preview(self) -> None:
        text = self.query_one("#import-path", Input).value.strip().strip('"')
        if not text:
            self.app.say("Type the path of the export first.", severity="warning")
            return
        self._run(self.selected_table, Path(text).expanduser(), dry_run=True)

    def action_apply(self) -> None:
        checked = self.checked
        if checked is None or checked.table != self.selected_table:
            self.app.say("Preview the file for this table first (enter).", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._run(checked.table, checked.path, dry_run=False)

        self.app.push_screen(ConfirmImport(checked), callback=answered)

    def _run(self, table: str, path: Path, *, dry_run: bool) -> None:
        services = self.app._engine()
        if services is None:
            return
        self.query_one("#import-result", Static).update(Text(f"{'checking' if dry_run else 'importing'} "
                                                             f"{path.name}…", "dim"))

        async def work() -> None:
            from gymconsole.importer.reader import UnusableFile
            from gymconsole.importer.service import import_file

            try:
                report = await import_file(services.db, self.app.config, self.app.clock, table, path,
                                           dry_run=dry_run, via="console")
            except (UnusableFile, OSError) as exc:
                self.post_message(self.Done(table, path, None, str(exc), not dry_run))
                return
            self.post_message(self.Done(table, path, report, None, not dry_run))

        self.run_worker(work(), name=f"import {table}", group="import", exclusive=True, exit_on_error=False)

    @on(Done)
    def _done(self, message: Done) -> None:
        result = self.query_one("#import-result", Static)
        if message.report is None:
            self.checked = None
            result.update(Text(f"{message.path}: cannot be used: {message.error}\nNothing changed.",
                               theme_style(self.app, "error")))
            return
        report = message.report
        self.checked = None if message.applied else Checked(message.table, message.path, report)
        result.border_title = "imported" if message.applied else "preview (dry run: nothing changed yet)"
        result.update(describe(self.app, report, applied=message.applied))
        if message.applied:
            self.app.say(f"Imported {message.path.name}: {report.summary()}")
            self._load_freshness()
            self.app.request_state()
        else:
            self.query_one("#import-tables", DataTable).focus()


def describe(app: GymConsoleApp, report: ImportReport, *, applied: bool) -> Text:
    """The report as the manager reads it; every text from the file is plain text, never markup."""
    text = Text()
    text.append(one_line(report.summary(), 200) + "\n", "bold")
    for reject in report.rejects[:SHOWN_REJECTS]:
        text.append(f"line {reject['line']}: ", theme_style(app, "error"))
        text.append(one_line(reject["reason"], 150) + "\n")
    if report.rejected > SHOWN_REJECTS:
        text.append(f"... and {report.rejected - SHOWN_REJECTS:,} more rejected rows\n", "dim")
    for conflict in report.conflicts[:3]:
        text.append(f"kept line {conflict['line']}: ", theme_style(app, "warning"))
        text.append(one_line(f"{conflict['name']}: {conflict['reason']}", 150) + "\n")
    if report.missing:
        text.append(one_line(f"not in this export (no acts on them): {', '.join(report.missing_sample)}", 200) + "\n",
                    theme_style(app, "warning"))
    if not applied:
        text.append("\ny: apply this file to the table (asks first)", "dim")
    return text
