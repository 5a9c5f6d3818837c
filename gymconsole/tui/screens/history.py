"""The run history: filter, search, page through and open any run.

Runs are read a page at a time with keyset pagination (``before_id``), so
the screen opens as fast on 100,000 runs as on ten.  Enter opens a run and
replays its stored events in the same panes as the live view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Select, Static

from gymconsole.present.run_events import mode_words, trigger_words
from gymconsole.present.words import plural
from gymconsole.tui.format import cell, local_time, money, one_line, run_status, run_summary
from gymconsole.tui.restyle import StyledFor
from gymconsole.tui.screens.dashboard import NAV_BINDINGS
from gymconsole.tui.widgets.key_footer import KeyFooter
from gymconsole.tui.widgets.page_table import PageTable, page_table
from gymconsole.tui.screens import SCREENS_CSS

if TYPE_CHECKING:
    from textual.timer import Timer

    from gymconsole.tui.app import GymConsoleApp

LOADING_SAID_AFTER = 0.15
"""Seconds a page may take before the status line says "Loading…" (a page usually comes in a few ms)."""
PAGE_SIZE = 50
"""Most runs a page holds; a page holds as many as the table shows (nothing is loaded, measured or drawn that is
not on screen), so at 80x24 it is about fifteen."""
STATUSES = ("running", "succeeded", "failed", "cancelled", "awaiting_approval", "budget_exhausted", "interrupted",
            "missed", "skipped")
COLUMNS = ("run", "started", "workflow", "status", "summary", "trigger", "mode", "steps", "AI cost")
"""What matters first: at 80 columns the run, when, which, how it ended and what it did are in view; the rest
is a scroll to the right (tokens are in the replay's detail)."""


@dataclass(frozen=True)
class RunFilter:
    """What the manager asked to see."""

    workflow: str | None = None
    status: str | None = None
    since: datetime | None = None
    search: str | None = None
    member: int | None = None

    def query(self) -> dict[str, Any]:
        return {"workflow": self.workflow, "status": self.status, "since": self.since, "search": self.search,
                "subject": ("member", self.member) if self.member is not None else None}


class HistoryScreen(Screen[None]):
    """Every run, newest first."""

    CSS_PATH = SCREENS_CSS

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("right_square_bracket", "next_page", "Next"),
        Binding("left_square_bracket", "previous_page", "Prev"),
        Binding("f", "focus_search", "Find"),
        Binding("m", "focus_member", "Member"),
        Binding("backspace", "clear_filters", "Clear", key_display="⌫"),
        *NAV_BINDINGS,
    ]

    app: GymConsoleApp

    class Loaded(Message):
        def __init__(self, rows: list[dict[str, Any]], page: int, filter: RunFilter, size: int) -> None:
            super().__init__()
            self.rows, self.page, self.filter, self.size = rows, page, filter, size

    def __init__(self) -> None:
        super().__init__()
        self.filter = RunFilter()
        self._page_starts: list[int | None] = [None]
        self._page = 0
        self._page_rows = PAGE_SIZE
        """The page size the page on screen was loaded with."""
        self._styled_for = StyledFor()
        self._shown: tuple[int, RunFilter, list[tuple[Any, ...]]] | None = None
        """The page on screen (number, filter, rows): a reload that finds the same rows redraws nothing."""
        self._loading: Timer | None = None
        """Says "Loading…" if the page asked for is slow to come."""
        self._asked: tuple[int, RunFilter] | None = None
        """The page last asked for (number, filter): only its answer is shown, and only that stops "Loading…"."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        workflows = [(workflow.title, name) for name, workflow in self.app.config.workflows.items()]
        with Horizontal(id="history-filters"):
            yield Select(workflows, prompt="any workflow", id="filter-workflow")
            yield Select([(status, status) for status in STATUSES], prompt="any status", id="filter-status")
            yield Input(placeholder="since YYYY-MM-DD", id="filter-since", max_length=10)
            yield Input(placeholder="search: name, ID or text", id="filter-search")
            yield Input(placeholder="member id", id="filter-member", type="integer")
        table = page_table(id="history-table", cursor_type="row", zebra_stripes=True)
        table.border_title = "runs"
        yield table
        yield Static(id="history-status", markup=False)
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#history-table", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        table.focus()
        self._styled_for.styled(self.app)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        """Shown (again): the current page, fresh from the database (filters are kept between visits)."""
        self._styled_for.resumed(self.app, event)
        self.load(self._page, quietly=self._shown is not None)  # the page it shows stays up while it is refreshed

    def on_resize(self) -> None:
        """Laid out at a new size: a page holds what the table now shows."""
        if self._shown is not None and self.is_current and self._page_rows != self._page_size():
            self.load(self._asked[0] if self._asked else self._page, quietly=True)  # the page awaited, if one is

    def prepare(self) -> None:
        """Lay the screen out and load its first page before it is first shown (the console calls this while idle).

        Laid out at the console's size while hidden, the page loaded is the one that fits, and opening the screen
        has no first layout to do (it was most of a first opening's cost).
        """
        if self._shown is None:
            self._refresh_layout(self.app.size)  # what Textual does for a hidden screen in the stack on a resize
            self.load(0)

    # --- loading ---------------------------------------------------------------

    def load(self, page: int, *, quietly: bool = False) -> None:
        """Load one page (in a worker; the rows come back as a message); ``quietly``: the page on screen stays as it
        is meanwhile (a refresh of the same page), without a "Loading…" between."""
        history = self.app.services.history if self.app.services else None
        if history is None:
            self._say("Waiting for the database…")
            self.app.when_ready(lambda: self.load(page))
            return
        run_filter, before_id, size = self.filter, self._page_starts[page], self._page_size()

        async def fetch() -> None:
            rows = await history.list_runs(**run_filter.query(), limit=size, before_id=before_id)
            self.post_message(self.Loaded(rows, page, run_filter, size))

        asked, self._asked = self._asked, (page, run_filter)
        if not quietly or asked != self._asked:  # (asked again quietly, a page still awaited is still awaited)
            if self._loading is not None:
                self._loading.stop()
            # Said only when a page is slow: said at once, its frame was drawn while the page was put in the table
            # and showed "page 2" above page 1's rows for a frame; the rows came a frame later.
            self._loading = None if quietly else self.set_timer(LOADING_SAID_AFTER, lambda: self._say("Loading…"))
        self.app.run_worker(fetch(), group="history", exclusive=True, exit_on_error=False, name="history page")

    def _page_size(self) -> int:
        """The rows the table shows at its current size (PAGE_SIZE before it has one).

        A line is kept for a horizontal scrollbar whether or not there is one: whether there is depends on the rows
        shown, and a page size that depended on the page would never settle.
        """
        table = self.query_one("#history-table", DataTable)
        header = table.header_height if table.show_header else 0
        fits = table.size.height - header - table.styles.scrollbar_size_horizontal
        return min(PAGE_SIZE, fits) if fits > 0 else PAGE_SIZE

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if (message.page, message.filter) != self._asked:
            return  # an answer to an older question (another filter, or a page asked for before the last)
        if self._loading is not None:
            self._loading.stop()
            self._loading = None
        del self._page_starts[message.page + 1:]
        if len(message.rows) == message.size:
            self._page_starts.append(message.rows[-1]["id"])
        shown = (message.page, message.filter, [tuple(row.values()) for row in message.rows])
        if shown != self._shown:
            before, self._shown = self._shown, shown
            if before is not None and before[:2] == shown[:2] and before[2][:len(shown[2])] == shown[2]:
                self._trim(len(shown[2]))  # the same page, shorter (it was loaded before the screen had a size)
            else:
                self._fill(message.rows)
        more = " · ] next page" if len(self._page_starts) > message.page + 1 else ""
        back = " · [ previous page" if message.page else ""
        count = plural(len(message.rows), "run") if message.rows else "no runs match"
        self._say(f"page {message.page + 1} · {count}{more}{back} · enter opens a run")
        self._page, self._page_rows = message.page, message.size
        if message.size != self._page_size():  # laid out meanwhile (or resized): a page of what it now shows
            self.load(message.page, quietly=True)

    def _say(self, status: str) -> None:
        """The status line (one line high and as wide as the screen, so a new text needs no layout)."""
        self.query_one("#history-status", Static).update(status, layout=False)

    def _trim(self, keep: int) -> None:
        table = self.query_one("#history-table", DataTable)
        for row_key in list(table.rows)[keep:]:
            table.remove_row(row_key)

    def _fill(self, rows: list[dict[str, Any]]) -> None:
        zone = self.app.config.scheduler.timezone
        app = self.app
        self.query_one("#history-table", PageTable).show_rows([(str(row["id"]), (
            cell(row["id"]), cell(local_time(row.get("started_at"), zone)),
            cell(app.config.title_of(row.get("workflow") or "")),
            run_status(app, row), cell(one_line(run_summary(row), 90)),
            cell(trigger_words(row.get("trigger")) if row.get("trigger") else ""),
            cell(mode_words(row["mode"]) + (" · dry run" if row.get("dry_run") else "") if row.get("mode") else ""),
            cell(row.get("iterations", 0)), cell(money(row.get("cost_usd"))),
        )) for row in rows])

    # --- filters ---------------------------------------------------------------

    def _refilter(self, **changes: Any) -> None:
        values = {**self.filter.__dict__, **changes}
        new = RunFilter(**values)
        if new != self.filter:
            self.filter = new
            self._page_starts = [None]
            self.load(0)

    @on(Select.Changed, "#filter-workflow")
    def _workflow(self, event: Select.Changed) -> None:
        self._refilter(workflow=None if event.value is Select.NULL else str(event.value))

    @on(Select.Changed, "#filter-status")
    def _status(self, event: Select.Changed) -> None:
        self._refilter(status=None if event.value is Select.NULL else str(event.value))

    @on(Input.Submitted, "#filter-since")
    def _since(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            self._refilter(since=None)
            return
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.notify(f"Not a date: {value!r} (use YYYY-MM-DD)", severity="error", markup=False)
            return
        zone = ZoneInfo(self.app.config.scheduler.timezone)
        self._refilter(since=datetime.combine(day, time(0), tzinfo=zone))
        self.query_one("#history-table").focus()

    @on(Input.Submitted, "#filter-search")
    def _search(self, event: Input.Submitted) -> None:
        self._refilter(search=event.value.strip() or None)
        self.query_one("#history-table").focus()

    @on(Input.Submitted, "#filter-member")
    def _member(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self._refilter(member=int(value) if value.lstrip("-").isdigit() else None)
        self.query_one("#history-table").focus()

    # --- actions ---------------------------------------------------------------

    @on(DataTable.RowSelected, "#history-table")
    def _open(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.action_open_run(int(event.row_key.value))

    def action_next_page(self) -> None:
        if len(self._page_starts) > self._page + 1:
            self.load(self._page + 1)
        else:
            self.notify("This is the last page.")

    def action_previous_page(self) -> None:
        if self._page:
            self.load(self._page - 1)

    def action_focus_search(self) -> None:
        self.query_one("#filter-search").focus()

    def action_focus_member(self) -> None:
        self.query_one("#filter-member").focus()

    def action_clear_filters(self) -> None:
        for selector in ("#filter-since", "#filter-search", "#filter-member"):
            self.query_one(selector, Input).value = ""
        self.query_one("#filter-workflow", Select).clear()
        self.query_one("#filter-status", Select).clear()
        self._refilter(workflow=None, status=None, since=None, search=None, member=None)

    def action_back(self) -> None:
        if isinstance(self.focused, Input | Select):
            self.query_one("#history-table").focus()
        else:
            self.app.pop_screen()
