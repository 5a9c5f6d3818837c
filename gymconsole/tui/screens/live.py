"""Live runs: one tab per recent run of this session, streaming as the engine works.

The app keeps a :class:`~gymconsole.tui.trace.RunTrace` per run and publishes
a run id on ``app.run_signal`` whenever one changes; this screen only draws.
Closing the screen never stops a run (runs belong to the engine, not to the
screen); reopening it draws each run again from its trace.  The app keeps the
traces of runs in progress and of the newest ``console.live_runs`` finished
ones; when it forgets one, its tab goes too (the run reopens from history).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from gymconsole.tui.memory import release_removed_widgets
from gymconsole.tui.screens.dashboard import NAV_BINDINGS
from gymconsole.tui.trace import RunTrace
from gymconsole.tui.widgets.run_view import RunView
from gymconsole.tui.screens import SCREENS_CSS

if TYPE_CHECKING:
    from gymconsole.tui.app import GymConsoleApp

STATUS_MARK = {"running": "●", "succeeded": "✓", "failed": "✗", "cancelled": "■", "awaiting_approval": "⏳",
               "budget_exhausted": "$", "interrupted": "✗"}


def pane_id(run_id: int) -> str:
    return f"run-{run_id}"


def tab_label(trace: RunTrace) -> Content:
    return Content(f"{STATUS_MARK.get(trace.status, '·')} {trace.title or trace.workflow} #{trace.run_id}")


class LiveScreen(Screen[None]):
    """The recent runs of this session, the newest first selected."""

    CSS_PATH = SCREENS_CSS

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("left_square_bracket", "previous_run", "Prev"),
        Binding("right_square_bracket", "next_run", "Next"),
        Binding("x", "cancel_run", "Cancel run"),
        *NAV_BINDINGS,
    ]

    app: GymConsoleApp

    def __init__(self, run_id: int | None = None) -> None:
        super().__init__()
        self.initial = run_id

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        traces = list(self.app.traces.values())
        yield Static("No runs in this session yet: press r on the dashboard to run a workflow.", id="no-runs",
                     markup=False)
        initial = self.initial if self.initial in self.app.traces else (traces[-1].run_id if traces else None)
        with TabbedContent(id="runs", initial=pane_id(initial) if initial is not None else ""):
            for trace in traces:  # the run on show drawn at once; the others when chosen
                yield TabPane(tab_label(trace), *([RunView(trace)] if trace.run_id == initial else []),
                              id=pane_id(trace.run_id))
        yield Footer(compact=True)

    async def on_mount(self) -> None:
        self.query_one("#no-runs").display = not self.app.traces
        self.app.run_signal.subscribe(self, self.run_changed)
        await self._draw_active()

    @on(TabbedContent.TabActivated, "#runs")
    async def _tab_activated(self) -> None:
        await self._draw_active()

    async def _draw_active(self) -> None:
        """Give the pane on show its run's view, drawn from the trace; the other panes let theirs go."""
        active = self.tabs.active_pane
        for view in list(self.query(RunView)):
            if view.parent is not active and view.is_mounted:
                await view.remove()
        if active is None or not active.id or active.query(RunView):
            return
        trace = self.app.traces.get(int(active.id.removeprefix("run-")))
        if trace is not None:
            await active.mount(RunView(trace))

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one("#runs", TabbedContent)

    def current_run(self) -> int | None:
        active = self.tabs.active
        return int(active.removeprefix("run-")) if active.startswith("run-") else None

    async def run_changed(self, run_id: int) -> None:
        """Draw what a run gained; a run new to this screen gets a tab (and is shown if asked)."""
        trace = self.app.traces.get(run_id)
        tabs = self.tabs
        panes = tabs.query(f"#{pane_id(run_id)}")
        if trace is None:  # forgotten by the app: its tab and view go with it
            await self._drop_forgotten()
            return
        if not panes:
            self.query_one("#no-runs").display = False
            await tabs.add_pane(TabPane(tab_label(trace), id=pane_id(run_id)))
            await self._drop_forgotten()  # any left over while they were still mounting
            if trace.status == "running" or not tabs.active:
                tabs.active = pane_id(run_id)
            await self._draw_active()
            return
        tab = tabs.get_tab(pane_id(run_id))
        label = tab_label(trace)
        if tab.label.plain != label.plain:  # a new label means a new layout: only when the status changes
            tab.label = label
        for view in panes.first().query(RunView):
            if view.is_mounted:
                view.request_sync()

    async def _drop_forgotten(self) -> None:
        """Remove the tabs of runs the app no longer keeps (once their views have finished mounting)."""
        for pane in list(self.tabs.query(TabPane)):
            run_id = int(pane.id.removeprefix("run-")) if pane.id and pane.id.startswith("run-") else None
            if run_id is None or run_id in self.app.traces:
                continue
            if pane.is_mounted and all(view.is_mounted for view in pane.query(RunView)):
                await self.tabs.remove_pane(pane.id)
                release_removed_widgets(self)  # or Textual's caches keep the removed tab and view alive

    def show_run(self, run_id: int) -> None:
        if self.tabs.query(f"#{pane_id(run_id)}"):
            self.tabs.active = pane_id(run_id)

    def _step(self, delta: int) -> None:
        ids = [pane.id for pane in self.tabs.query(TabPane) if pane.id]
        if not ids:
            return
        index = ids.index(self.tabs.active) if self.tabs.active in ids else 0
        self.tabs.active = ids[(index + delta) % len(ids)]

    def action_previous_run(self) -> None:
        self._step(-1)

    def action_next_run(self) -> None:
        self._step(1)

    def action_cancel_run(self) -> None:
        run_id = self.current_run()
        trace = self.app.traces.get(run_id) if run_id is not None else None
        if trace is None or trace.finished:
            self.notify("This run is not running.", severity="warning")
            return
        self.app.action_cancel_workflow(trace.workflow)
