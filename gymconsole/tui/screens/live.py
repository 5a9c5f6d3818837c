"""Live runs: one tab per recent run of this session, streaming as the engine works.

The app keeps a :class:`~gymconsole.tui.trace.RunTrace` per run and publishes
a run id on ``app.run_signal`` whenever one changes; this screen only draws.
Closing the screen never stops a run (runs belong to the engine, not to the
screen); reopening it draws each run again from its trace.  The app keeps the
traces of runs in progress and of the newest ``console.live_runs`` finished
ones; when it forgets one, its tab goes too (the run reopens from history).

One :class:`RunView` shows the run whose tab is chosen; choosing another tab, or a new
run arriving, draws that run in the same view.  A view per run, built for each new run
and dropped a run later, was the most of what a busy console made and threw away:
widgets the garbage collector then walked until a full collection freed them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Header, Static, Tab, Tabs

from gymconsole.tui.memory import release_removed_widgets
from gymconsole.tui.restyle import StyledFor
from gymconsole.tui.screens.dashboard import NAV_BINDINGS, on_show
from gymconsole.tui.trace import RunTrace
from gymconsole.tui.widgets.key_footer import KeyFooter
from gymconsole.tui.widgets.run_view import RunView
from gymconsole.tui.screens import SCREENS_CSS

if TYPE_CHECKING:
    from gymconsole.tui.app import GymConsoleApp

STATUS_MARK = {"running": "●", "succeeded": "✓", "failed": "✗", "cancelled": "■", "awaiting_approval": "⏳",
               "budget_exhausted": "$", "interrupted": "✗"}


def tab_id(run_id: int) -> str:
    return f"run-{run_id}"


def open_live(app: GymConsoleApp, run_id: int | None = None) -> None:
    """Show the console's live screen, on ``run_id`` (or the newest run).

    Built on its first opening and kept: opening it again brings its tabs up to date and draws one run, where
    building it drew every tab and a run view each time (the slowest screen to open, and the one a run starting
    opens by itself).
    """
    if not app.is_screen_installed("live"):
        app.install_screen(LiveScreen(), "live")
    screen = cast(LiveScreen, app.get_screen("live"))
    screen.initial = run_id
    screen.opened = True
    app.push_screen(screen)


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
        self._styled_for = StyledFor()
        self.initial = run_id
        self.opened = True
        """Opened by ``open_live`` (show the asked-for or newest run), not shown again as something above closed."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        traces = list(self.app.traces.values())
        yield Static("No runs in this session yet: press r on the dashboard to run a workflow.", id="no-runs",
                     markup=False)
        initial = self.initial if self.initial in self.app.traces else (traces[-1].run_id if traces else None)
        yield Tabs(*(Tab(tab_label(trace), id=tab_id(trace.run_id)) for trace in traces),
                   active=tab_id(initial) if initial is not None else None, id="runs")
        if initial is not None:
            yield RunView(self.app.traces[initial])
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self._styled_for.styled(self.app)

    async def on_screen_resume(self, event: events.ScreenResume) -> None:
        """Shown (again): the tabs brought up to date with the runs the app keeps, the asked-for run (or the newest)
        drawn; back from a screen or modal above it, the run it showed stays chosen."""
        self._styled_for.resumed(self.app, event)
        self.app.run_signal.unsubscribe(self)
        self.app.run_signal.subscribe(self, self.run_changed)
        await self._catch_up()

    async def _catch_up(self) -> None:
        traces = self.app.traces
        self.query_one("#no-runs").display = not traces
        await self._drop_forgotten()
        shown = {tab.id: tab for tab in self.tabs.query(Tab)}
        for run_id, trace in list(traces.items()):  # runs come and go while a tab mounts
            tab = shown.get(tab_id(run_id))
            if run_id not in traces:
                continue  # forgotten meanwhile (its run_changed drops any tab it got)
            if tab is None:
                await self.tabs.add_tab(Tab(tab_label(trace), id=tab_id(run_id)))
            elif tab.label.plain != tab_label(trace).plain:
                tab.label = tab_label(trace)
        with_tabs = [run_id for run_id in traces if self._tab(run_id) is not None]  # a run newer than the loop: later
        current = self.current_run()
        if self.initial in with_tabs:
            wanted = self.initial
        elif not self.opened and current in with_tabs:
            wanted = current  # back from the palette, an approval or another screen: the manager's place is kept
        else:
            wanted = with_tabs[-1] if with_tabs else None
        self.initial, self.opened = None, False
        if wanted is not None:
            self.tabs.active = tab_id(wanted)
            await self._show_active()
            for view in self.query(RunView):
                view.request_sync()

    @on(Tabs.TabActivated, "#runs")
    async def _tab_activated(self) -> None:
        await self._show_active()

    async def _show_active(self) -> None:
        """Draw the chosen tab's run in the view (the same view for every run)."""
        run_id = self.current_run()
        trace = self.app.traces.get(run_id) if run_id is not None else None
        if trace is None:
            return
        views = self.query(RunView)
        if views:
            views.first().show_trace(trace)
        else:
            await self.mount(RunView(trace), after=self.tabs)

    @property
    def tabs(self) -> Tabs:
        return self.query_one("#runs", Tabs)

    def _tab(self, run_id: int) -> Tab | None:
        tabs = self.tabs.query(f"#tabs-list > #{tab_id(run_id)}")
        return tabs.first(Tab) if tabs else None

    def current_run(self) -> int | None:
        active = self.tabs.active
        return int(active.removeprefix("run-")) if active and active.startswith("run-") else None

    async def run_changed(self, run_id: int) -> None:
        """Draw what a run gained; a run new to this screen gets a tab (and is shown if asked).

        Nothing is drawn while an opaque screen covers this one (the next showing catches up), but a modal such as
        an approval leaves it in sight, and the run behind it keeps moving."""
        if not on_show(self):
            return
        trace = self.app.traces.get(run_id)
        tabs = self.tabs
        if trace is None:  # forgotten by the app: its tab goes with it
            await self._drop_forgotten()
            return
        tab = self._tab(run_id)
        if tab is None:
            self.query_one("#no-runs").display = False
            await tabs.add_tab(Tab(tab_label(trace), id=tab_id(run_id)))
            await self._drop_forgotten()
            if trace.status == "running" or tabs.active == tab_id(run_id):
                tabs.active = tab_id(run_id)
                await self._show_active()
            return
        label = tab_label(trace)
        if tab.label.plain != label.plain:  # a new label means a new layout: only when the status changes
            tab.label = label
        for view in self.query(RunView):
            if view.trace is trace:
                view.request_sync()

    async def _drop_forgotten(self) -> None:
        """Remove the tabs of runs the app no longer keeps."""
        dropped = False
        for tab in list(self.tabs.query(Tab)):
            run_id = int(tab.id.removeprefix("run-")) if tab.id and tab.id.startswith("run-") else None
            if run_id is None or run_id in self.app.traces or not tab.is_mounted:
                continue
            await self.tabs.remove_tab(tab)
            dropped = True
        if dropped:
            release_removed_widgets(self)  # or Textual's caches keep the removed tabs alive

    def show_run(self, run_id: int) -> None:
        if self._tab(run_id) is not None:
            self.tabs.active = tab_id(run_id)

    def _step(self, delta: int) -> None:
        ids = [tab.id for tab in self.tabs.query(Tab) if tab.id]
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
