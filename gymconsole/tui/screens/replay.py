"""One stored run, replayed from its events in the live view's panes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from gymconsole.engine.events import Event
from gymconsole.present.run_events import mode_words, trigger_words
from gymconsole.present.sanitize import visible
from gymconsole.present.words import status_words
from gymconsole.tui.format import STATUS_STYLE, local_time, money, theme_style
from gymconsole.tui.screens.dashboard import NAV_BINDINGS
from gymconsole.tui.trace import RunTrace
from gymconsole.tui.widgets.run_view import RunView
from gymconsole.tui.screens import SCREENS_CSS

if TYPE_CHECKING:
    from gymconsole.tui.app import GymConsoleApp


class ReplayScreen(Screen[None]):
    """A past run: its record on top, its trace below."""

    CSS_PATH = SCREENS_CSS

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        *NAV_BINDINGS,
    ]

    app: GymConsoleApp

    class Loaded(Message):
        def __init__(self, run: dict[str, Any] | None, events: list[Event]) -> None:
            super().__init__()
            self.run, self.events = run, events

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.trace: RunTrace | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static(Text(f"Loading run #{self.run_id}…"), id="replay-record")
        yield Vertical(id="replay-body")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        services = self.app.services
        if services is None:
            self.app.when_ready(self.on_mount)
            return
        history = services.history

        async def fetch() -> None:
            run = await history.get_run(self.run_id)
            events = await history.events(self.run_id) if run else []
            self.post_message(self.Loaded(run, events))

        self.app.run_worker(fetch(), group="replay", exclusive=True, exit_on_error=False, name="replay")

    @on(Loaded)
    async def _loaded(self, message: Loaded) -> None:
        run = message.run
        if run is None:
            self.query_one("#replay-record", Static).update(Text(f"Run #{self.run_id} is not in the history."))
            return
        workflow = run.get("workflow", "")
        config = self.app.config
        title = config.title_of(workflow)
        limit = config.workflows[workflow].max_iterations if workflow in config.workflows else 0
        trace = RunTrace.from_events(self.run_id, workflow, message.events, title=title, max_iterations=limit)
        # The run row is the record of how it ended (an interrupted run has no RunFinished event).
        trace.status = run.get("status", trace.status)
        trace.mode = trace.mode or run.get("mode", "")
        trace.trigger = trace.trigger or run.get("trigger", "")
        trace.dry_run = trace.dry_run or bool(run.get("dry_run"))
        trace.iteration = max(trace.iteration, run.get("iterations") or 0)
        if not message.events:
            trace.usage = {"input": run.get("input_tokens") or 0, "output": run.get("output_tokens") or 0,
                           "cache_read": run.get("cache_read_tokens") or 0,
                           "cache_write": run.get("cache_write_tokens") or 0}
            trace.cost_usd = run.get("cost_usd") or 0.0
            trace.add_text("(no events stored for this run: it was skipped, missed, or its events were pruned)\n")
        self.trace = trace
        self.query_one("#replay-record", Static).update(self._record(run))
        await self.query_one("#replay-body").mount(RunView(trace))

    def _record(self, run: dict[str, Any]) -> Text:
        zone = self.app.config.scheduler.timezone
        app = self.app
        text = Text(no_wrap=False)
        text.append(f"run #{run['id']} ", "bold")
        status = run.get("status", "")
        text.append(f" {status_words(status)} ", theme_style(app, STATUS_STYLE.get(status, "foreground"), bold=True))
        text.append(f"  {visible(run.get('workflow'))} · {trigger_words(str(run.get('trigger')))} · "
                    f"{mode_words(str(run.get('mode')))}" + (" · DRY RUN" if run.get("dry_run") else ""))
        text.append(f"  ·  started {local_time(run.get('started_at'), zone)}")
        if run.get("ended_at"):
            text.append(f" · ended {local_time(run.get('ended_at'), zone)}")
        text.append(f"  ·  {money(run.get('cost_usd'))}")
        if run.get("summary"):
            text.append("\n" + visible(run["summary"], multiline=True))
        if run.get("error"):
            text.append("\n" + visible(run["error"], multiline=True), theme_style(app, "error"))
        return text
