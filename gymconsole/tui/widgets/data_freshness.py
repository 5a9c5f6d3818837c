"""One line on the dashboard: how fresh the imported data is ("data as of ..."), a warning when it is stale."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import Static

from gymconsole.tui.format import local_time, theme_style

if TYPE_CHECKING:
    from gymconsole.importer.freshness import Freshness
    from gymconsole.tui.app import GymConsoleApp


def freshness_text(app: GymConsoleApp, entries: list[Freshness], demo: bool) -> Text:
    """``members 31 h old!  import a fresh export (i) · data as of Mon 11-30 09:14: invoices, payments``.

    Stale tables come first, so at 80 columns the warning is never the part cut off; fresh tables imported in
    the same minute share one time.  (Table names come from our code only.)
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    imported = [entry for entry in entries if entry.imported_at]
    muted = theme_style(app, "foreground-muted")
    if demo:
        text.append("data: the demo gym (counts as fresh)", muted)
        return text
    if not imported:
        text.append("data: nothing imported yet (i: Import)", muted)
        return text
    stale = [entry for entry in imported if entry.stale]
    for index, entry in enumerate(stale):
        text.append(", " if index else "")
        text.append(f"{entry.table} {entry.age_hours:.0f} h old!", theme_style(app, "error", bold=True))
    if stale:
        text.append("  import a fresh export (i)", theme_style(app, "warning", bold=True))
    groups: dict[str, list[str]] = {}
    zone = app.config.scheduler.timezone
    for entry in imported:
        if not entry.stale:
            groups.setdefault(local_time(entry.imported_at, zone), []).append(entry.table)
    if groups:
        text.append(" · " if stale else "")
        text.append("data as of ", muted)
    for index, (when, tables) in enumerate(groups.items()):
        text.append(" · " if index else "", muted)
        text.append(f"{when}: {', '.join(tables)}")
    return text


class DataFreshness(Static):
    """Redrawn whenever the console state is (every 30 s, and after runs and imports)."""

    class Loaded(Message):
        def __init__(self, entries: list[Freshness], demo: bool) -> None:
            super().__init__()
            self.entries, self.demo = entries, demo

    DEFAULT_CSS = """
    DataFreshness {
        height: 1;
        padding: 0 1;
    }
    """

    app: GymConsoleApp

    def on_mount(self) -> None:
        self.reload()  # and again on each new snapshot the dashboard shows (DashboardScreen._state_changed)

    def reload(self) -> None:
        services = self.app.services
        if services is None:
            return

        async def load() -> None:
            from gymconsole.importer.freshness import freshness, is_demo

            entries = await freshness(services.db, self.app.clock.now(), self.app.config.safety.max_data_age_hours)
            self.post_message(self.Loaded(entries, await is_demo(services.db)))

        self.run_worker(load(), name="data freshness", group="freshness", exclusive=True, exit_on_error=False)

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.update(freshness_text(self.app, message.entries, message.demo))
