"""The dashboard: the six workflows, their schedules and last runs, and the console's state."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from gymconsole.present.words import cost, money, plural, tool_words
from gymconsole.tui.format import (
    STATUS_STYLE,
    cell,
    countdown,
    describe_schedule,
    one_line,
    parse_time,
    run_status,
    run_summary,
    styled,
    theme_style,
    when,
)
from gymconsole.tui.state import ConsoleState
from gymconsole.tui.widgets.console_bar import ConsoleBar
from gymconsole.tui.widgets.data_freshness import DataFreshness
from gymconsole.tui.widgets.key_footer import KeyFooter
from gymconsole.tui.widgets.spend_panel import SpendPanel

if TYPE_CHECKING:
    from gymconsole.tui.app import GymConsoleApp

COLUMNS = ("workflow", "schedule", "next run", "in", "last run", "last status", "state")
KEEP_ORDER = ("workflow", "next run", "last status", "in", "state", "schedule", "last run")
"""Which columns stay when the window is narrow: the first ones always, the last ones go first."""
CELL_PADDING = 2
RECENT_COLUMNS = ("run", "started", "workflow", "status", "summary")

NAV_BINDINGS = [
    Binding("q", "app.quit", "Quit"),
    Binding("l", "app.open_live", "Live"),
    Binding("h", "app.open_history", "History"),
    Binding("a", "app.open_approvals", "Approvals"),
    Binding("c", "app.open_config", "Config"),
    Binding("d", "app.toggle_dry_run", "Dry run"),
]
"""Keys every full screen shares (the command palette reaches the same actions).  After a screen's own keys, in
this order: an 80-column footer that runs out of room drops the ones on the right, never Quit."""

TYPING_QUIT = Binding("ctrl+q", "app.quit", "Quit", key_display="^q", priority=True)  # priority: shown over the app's
"""For the footer of a screen that opens with the focus in a text box, where `q` is a letter."""

MODAL_NAV_BINDINGS = [Binding(b.key, b.action, b.description, show=b.key == "q") for b in NAV_BINDINGS]
"""The same keys in a modal, where the app's own bindings do not reach: quit shown, the rest at work but
unlisted (while an approval is open, moving away says to decide first)."""


class DashboardScreen(Screen[None]):
    """The console's home."""

    BINDINGS = [
        Binding("r", "run_selected", "Run"),
        Binding("p", "pause_selected", "Pause"),
        Binding("P", "app.pause_all", "Pause all", show=False),
        Binding("i", "app.open_import", "Import"),
        *NAV_BINDINGS,
    ]

    app: GymConsoleApp
    _hidden_changes = False
    """A snapshot came while another screen covered this one: drawn when it shows again."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield ConsoleBar(id="console-bar")
        yield DataFreshness(id="data-freshness")
        yield SpendPanel(id="spend-panel")
        table: DataTable[Text] = DataTable(id="workflows", cursor_type="row", zebra_stripes=True)
        table.border_title = f"workflows (times in {self.app.config.scheduler.timezone})"
        yield table
        with Horizontal(id="dash-lower"):
            detail = Static(id="workflow-detail")
            detail.border_title = "selected workflow"
            yield detail
            recent: DataTable[Text] = DataTable(id="recent-runs", cursor_type="row", zebra_stripes=True)
            recent.border_title = "recent runs (enter opens)"
            yield recent
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#workflows", DataTable)
        self._cells: dict[str, dict[str, Text]] = {
            name: {"workflow": cell(workflow.title, "bold"), "schedule": cell(describe_schedule(workflow.schedule)),
                   "next run": cell("…"), "in": cell(""), "last run": cell(""), "last status": cell(""),
                   "state": cell("starting…")}
            for name, workflow in self.app.config.workflows.items()}
        self._shown_columns: tuple[str, ...] = ()
        self._fit_columns()
        recent = self.query_one("#recent-runs", DataTable)
        for name in RECENT_COLUMNS:
            recent.add_column(name, key=name)
        table.focus()
        self.app.state_signal.subscribe(self, self._state_changed)
        self.show_state(self.app.state)
        self.set_interval(1.0, self._tick)

    def _state_changed(self, state: ConsoleState | None) -> None:
        """A new snapshot: drawn now if the dashboard is on show, else once it is shown again.

        While runs arrive the live screen covers the dashboard and the snapshot changes a few times a second;
        redrawing the hidden tables and reloading the costs and data ages each time took the loop from the screen
        the manager is looking at, and left more for the garbage collector to walk.
        """
        if not on_show(self):
            self._hidden_changes = True
            return
        self.show_state(state)
        self.query_one(SpendPanel).reload()
        self.query_one(DataFreshness).reload()

    def on_screen_resume(self) -> None:
        if not self.is_mounted:  # its first showing: on_mount draws it
            return
        if self._hidden_changes:
            self._hidden_changes = False
            self._state_changed(self.app.state)
        else:
            self._tick()  # the countdowns stood still while hidden

    @property
    def selected(self) -> str | None:
        table = self.query_one("#workflows", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    def show_state(self, state: ConsoleState | None) -> None:
        """Redraw from a new snapshot."""
        self.query_one(ConsoleBar).show(state)
        if state is None:
            self._show_detail()
            return
        zone = self.app.config.scheduler.timezone
        app = self.app
        now = app.clock.now()
        for job in state.jobs:
            name = job["name"]
            if name not in self._cells:
                continue
            last = state.last_runs.get(name) or {}
            if name in state.running:
                status_cell = styled(app, f"running #{state.running[name]}", STATUS_STYLE, "running")
            elif not job.get("enabled", True):
                status_cell = cell("disabled (manual only)", theme_style(app, "foreground-muted"))
            elif job.get("paused"):
                status_cell = cell("paused", theme_style(app, "warning", bold=True))
            else:
                status_cell = cell("scheduled", theme_style(app, "success"))
            next_run = job.get("next_run")
            held = _held_words(job)
            retry = job.get("retry_at") if not held else None
            if retry:  # a rate-limited scheduled run, tried once more when the API said it could go on
                next_cell = cell(f"retry {when(retry, zone, now)}", theme_style(app, "warning", bold=True))
            else:
                next_cell = cell(held, theme_style(app, "warning")) if held else cell(
                    when(next_run, zone, now) if next_run else "—")
            self._cells[name].update({
                "next run": next_cell,
                "last run": cell(when(last.get("started_at"), zone, now) if last else "never"),
                "last status": run_status(app, last) if last else cell("never run"),
                "state": status_cell,
            })
        self._fit_columns(force_update=True)
        self._show_recent(state)
        self._tick()
        self._show_detail()

    def _show_recent(self, state: ConsoleState) -> None:
        recent = self.query_one("#recent-runs", DataTable)
        zone = self.app.config.scheduler.timezone
        now = self.app.clock.now()
        row_key = recent.coordinate_to_cell_key(recent.cursor_coordinate).row_key if recent.row_count else None
        recent.clear()
        for run in state.recent:
            recent.add_row(cell(f"#{run['id']}"), cell(when(run.get("started_at"), zone, now)),
                           cell(run.get("workflow")), run_status(self.app, run),
                           cell(one_line(run_summary(run), 60)), key=str(run["id"]))
        if row_key is not None and row_key in recent.rows:
            recent.move_cursor(row=recent.get_row_index(row_key))

    def _tick(self) -> None:
        """Move the countdowns on (on show only: the snapshot drawn on the way back moves them on too)."""
        state = self.app.state
        if state is None or not on_show(self):
            return
        table = self.query_one("#workflows", DataTable)
        now = self.app.clock.now()
        services = self.app.services
        table.border_subtitle = _lease_line(state, now, services.scheduler.lease if services is not None else None)
        for job in state.jobs:
            if job["name"] in self._cells:
                held = _held_words(job)
                value = cell(held, theme_style(self.app, "warning")) if held else cell(
                    countdown(parse_time(job.get("retry_at") or job.get("next_run")), now))
                self._cells[job["name"]]["in"] = value
                if "in" in self._shown_columns and job["name"] in table.rows:
                    table.update_cell(job["name"], "in", value, update_width=True)

    def on_resize(self) -> None:
        self._fit_columns()

    def _fit_columns(self, *, force_update: bool = False) -> None:
        """Show the columns that fit the window, dropping the least important first."""
        table = self.query_one("#workflows", DataTable)
        room = (self.size.width or self.app.size.width) - 4
        widths = {column: max(len(column), *(self._cells[name][column].cell_len for name in self._cells))
                  + CELL_PADDING for column in COLUMNS}
        keep: list[str] = []
        for column in KEEP_ORDER:
            if len(keep) < 3 or sum(widths[c] for c in keep) + widths[column] <= room:
                keep.append(column)
        shown = tuple(column for column in COLUMNS if column in keep)
        if shown != self._shown_columns:
            cursor = table.cursor_row
            table.clear(columns=True)
            for column in shown:
                table.add_column(column, key=column)
            for name, cells in self._cells.items():
                table.add_row(*(cells[column] for column in shown), key=name)
            if table.row_count:
                table.move_cursor(row=min(cursor, table.row_count - 1))
            self._shown_columns = shown
        elif force_update:
            for name, cells in self._cells.items():
                for column in shown:
                    table.update_cell(name, column, cells[column], update_width=True)

    @on(SpendPanel.Loaded)
    def _costs_loaded(self) -> None:
        self._show_detail()

    @on(DataTable.RowHighlighted, "#workflows")
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        name = self.selected
        config = self.app.config
        if name is None or name not in config.workflows:
            return
        workflow = config.workflows[name]
        muted = theme_style(self.app, "foreground-muted")
        text = Text(no_wrap=False)
        text.append(workflow.title, "bold")
        text.append(f"  ({name})\n", muted)
        mode = "offline playbook" if self.app.offline_mode else f"model {config.model_for(name)}"
        text.append(f"{mode} · up to {plural(workflow.max_iterations, 'step')} · {describe_schedule(workflow.schedule)}"
                    f" (cron {workflow.schedule.describe()})\n", muted)
        report = self.query_one(SpendPanel).report
        if report is not None and report.per_run.get(name) is not None:
            monthly = report.per_month.get(name)
            text.append(f"AI cost {cost(report.per_run[name])} a run" + (
                f", {money(monthly)} a month at its schedule" if monthly else "") + " (from its history)\n", muted)
        text.append("can: " + ", ".join(tool_words(tool) for tool in workflow.tools) + "\n", muted)
        text.append("keys: r run now · p pause or resume · P pause or resume all\n", muted)
        text.append(one_line(config.task_for(name), 600))
        state = self.app.state
        last = state.last_runs.get(name) if state else None
        if last and last.get("attention"):
            text.append(f"\n\nlast run #{last.get('id', '?')} needs attention: ",
                        theme_style(self.app, "warning", bold=True))
            text.append(one_line(last["attention"], 300))
        if last and (last.get("summary") or last.get("error")):
            text.append(f"\n\nlast run #{last.get('id', '?')}: ", "bold")
            text.append(one_line(last.get("error") or last.get("summary"), 400),
                        theme_style(self.app, "error") if last.get("error") else "")
        self.query_one("#workflow-detail", Static).update(text)

    @on(DataTable.RowSelected, "#workflows")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_run_selected()

    @on(DataTable.RowSelected, "#recent-runs")
    def _recent_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.app.action_open_run(int(event.row_key.value))

    def action_run_selected(self) -> None:
        if self.selected:
            self.app.action_run_workflow(self.selected)

    def action_pause_selected(self) -> None:
        if self.selected:
            self.app.action_toggle_pause(self.selected)


def on_show(screen: Screen[Any]) -> bool:
    """Whether ``screen`` can be seen: on top, or under screens that let it show through (modals).

    ``Screen.is_current`` also counts the screen right under the top one, opaque or not.
    """
    stack = screen.app.screen_stack
    if screen not in stack:
        return False
    return all(above.styles.background.a < 1 for above in stack[stack.index(screen) + 1:])


def _lease_line(state: ConsoleState, now: datetime, lease: Any = None) -> str:
    """Who fires the scheduled runs, when it is not this console (run now, pause and resume still work here).

    ``lease`` is the scheduler's live lease (renewed every few seconds), fresher than the snapshot's.
    """
    held, holder = (lease.held, lease.holder) if lease is not None else (state.schedules_held_here,
                                                                         state.schedules_holder)
    if held or not state.scheduler_running:
        return ""
    if holder is None or holder.expires_at <= now:
        return "schedules: the last holder stopped; this console takes over within seconds"
    return f"schedules run by {holder.describe(now)}"


def _held_words(job: dict[str, Any]) -> str:
    """Why a workflow will not run on its schedule, in words (empty when it will)."""
    if not job.get("enabled", True):
        return "manual only"
    return "paused" if job.get("paused") else ""
