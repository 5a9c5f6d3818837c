"""The console app: wiring, app-wide state and the actions every screen shares.

The app paints the dashboard first, then opens the engine's services (the
database, gate, runner, scheduler) in a worker and starts the scheduler on
its own event loop.  Engine events reach it through one
:class:`~gymconsole.tui.bridge.EventBridge`; the app folds them into a
:class:`~gymconsole.tui.trace.RunTrace` per run and tells screens through
two signals (``run_signal`` with a run id, ``state_signal`` with a
:class:`~gymconsole.tui.state.ConsoleState`).  Screens only draw and ask
the app to act.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.signal import Signal
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from gymconsole.clock import Clock, SystemClock
from gymconsole.config import Config, find_api_key
from gymconsole.present.sanitize import visible
from gymconsole.present.words import plural
from gymconsole.tui.asker import ApprovalsChanged, ModalAsker
from gymconsole.tui.bridge import EngineEvent, EventBridge, TextChunk
from gymconsole.tui import gc_pauses
from gymconsole.tui.commands import ConsoleCommands
from gymconsole.tui.format import one_line
from gymconsole.tui.screens import load_screens_css
from gymconsole.tui.screens.dashboard import DashboardScreen
from gymconsole.tui.state import ConsoleState, load_state

if TYPE_CHECKING:
    from gymconsole.tui.trace import RunTrace
    from gymconsole.db import Database
    from gymconsole.engine.services import Services

log = logging.getLogger(__name__)

STATE_REFRESH_SECONDS = 30.0
STATE_COALESCE_SECONDS = 0.25
FREEZE_AFTER_SECONDS = 3.0
FINISHED_SEVERITY = {"succeeded": "information", "failed": "error", "interrupted": "error"}
AFTER_FIRST_PAINT = ("gymconsole.engine.events", "gymconsole.engine.services", "gymconsole.tui.trace",
                     "gymconsole.tui.screens.approval", "gymconsole.tui.screens.history", "gymconsole.tui.screens.live")
"""Loaded on a thread once the dashboard shows, so neither the first paint nor a key press waits for them."""


def _load_the_rest() -> None:
    for name in AFTER_FIRST_PAINT:
        importlib.import_module(name)


class ServicesReady(Message):
    """The engine is open and the scheduler started."""


class StateLoaded(Message):
    def __init__(self, state: ConsoleState) -> None:
        super().__init__()
        self.state = state


class GymConsoleApp(App[int]):
    """gymconsole's full-screen console."""

    CSS_PATH = Path(__file__).with_name("console.tcss")
    TITLE = "gymconsole"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        # The README's global keys work on every screen, modals included; screens show them in their footers.
        Binding("q", "quit", "Quit", show=False),
        Binding("h", "open_history", "History", show=False),
        Binding("a", "open_approvals", "Approvals", show=False),
        Binding("c", "open_config", "Config", show=False),
        Binding("l", "open_live", "Live runs", show=False),
        Binding("d", "toggle_dry_run", "Dry run", show=False),
        Binding("question_mark,slash", "ask", "Ask", show=False),
    ]

    def __init__(self, config: Config, *, db_path: Path | None = None, clock: Clock | None = None,
                 api_key: str | None = None, base_url: str | None = None, offline: bool = False,
                 dry_run: bool | None = None, actor: str | None = None, database: Database | None = None) -> None:
        super().__init__()
        self._database = database
        """Already open (the CLI checked it before taking over the screen): used, not opened again."""
        self.config = config
        self.db_path = Path(db_path) if db_path is not None else config.database_path()
        self.clock: Clock = clock or SystemClock()
        self._api_key = api_key
        self._base_url = base_url
        self._offline = offline or not api_key
        self._dry_run = config.safety.dry_run if dry_run is None else dry_run
        self.services: Services | None = None
        """The engine once open (None before, or when it could not open)."""
        self.state: ConsoleState | None = None
        self.demo = False
        self.startup_error: str | None = None
        self.traces: dict[int, RunTrace] = {}
        self.run_signal: Signal[int] = Signal(self, "run")
        self.state_signal: Signal[ConsoleState] = Signal(self, "state")
        self.asker = ModalAsker(self, self.clock, actor=actor)
        self.bridge = EventBridge(self)
        self._stack = AsyncExitStack()
        self._ready_callbacks: list[Callable[[], object]] = []
        self._quit_armed = False
        self._state_timer: Timer | None = None
        self.ready = asyncio.Event()
        self.assistant: Any = None
        """The assistant (engine/ask.py), made by the ask screen on its first question."""

    # --- facts the screens show ---------------------------------------------------

    @property
    def api_key_present(self) -> bool:
        return bool(self._api_key)

    @property
    def offline_mode(self) -> bool:
        return bool(self.services.runner.offline) if self.services else self._offline

    @property
    def dry_run_mode(self) -> bool:
        return bool(self.services.runner.dry_run) if self.services else self._dry_run

    def say(self, message: str, *, severity: str = "information", timeout: float | None = None) -> None:
        """A notification whose text is never parsed as markup (it may quote members or the model)."""
        self.notify(visible(message, multiline=True), severity=severity, timeout=timeout,  # type: ignore[arg-type]
                    markup=False)

    # --- start and stop ---------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        return DashboardScreen()

    def on_mount(self) -> None:
        from gymconsole.tui import busy, memory

        busy.install(self, self.config.database.busy_wait_seconds)  # "waiting for the database ..." on screen
        memory.install(self)  # a console open for weeks lets go of the widgets it removed
        self.sub_title = "offline" if self._offline else "claude"
        self.call_after_refresh(self._start)

    def _start(self) -> None:
        self.run_worker(self._open(), name="start the engine", group="startup", exit_on_error=False)

    async def _open(self) -> None:
        await asyncio.to_thread(_load_the_rest)
        load_screens_css(self)  # before the history screen is built while idle, so it is styled once
        from gymconsole.db import DatabaseError
        from gymconsole.engine.services import open_services

        try:
            services = await self._stack.enter_async_context(open_services(
                self.config, db_path=self.db_path, db=self._database, clock=self.clock, asker=self.asker, api_key=self._api_key or "",
                base_url=self._base_url, offline=self._offline, dry_run=self._dry_run))
        except DatabaseError as exc:
            self.startup_error = str(exc)
            self.say(f"Cannot open the database: {exc}", severity="error", timeout=30)
            return
        self.services = services
        self.bridge.attach(services.bus)
        self.demo = (await services.db.meta("demo")) == "1"
        await services.scheduler.start()
        self.post_message(ServicesReady())

    @on(ServicesReady)
    def _services_ready(self) -> None:
        self.ready.set()
        callbacks, self._ready_callbacks = self._ready_callbacks, []
        for callback in callbacks:
            callback()
        self.request_state()
        self.set_interval(STATE_REFRESH_SECONDS, self.request_state)
        self.call_after_refresh(self._prepare_history)
        self.set_timer(FREEZE_AFTER_SECONDS, gc_pauses.freeze_startup_heap)  # once the history screen is built

    async def _prepare_history(self) -> None:
        """Build the history screen while the console is idle, so its first opening is quick."""
        from gymconsole.tui.screens.history import HistoryScreen

        if not self.is_screen_installed("history"):
            self.install_screen(HistoryScreen(), "history")
            screen, mounted = self._get_screen("history")  # registers it: compose and mount now, not on the first h
            await mounted
            if isinstance(screen, HistoryScreen):
                screen.prepare()  # and lay it out with its first page, so opening it only shows it

    def when_ready(self, callback: Callable[[], object]) -> None:
        """Call back once the engine is open (at once if it already is)."""
        if self.ready.is_set():
            callback()
        else:
            self._ready_callbacks.append(callback)

    async def on_unmount(self) -> None:
        """Cancel runs still going (their end is recorded), stop the scheduler, close the database."""
        self.bridge.detach()
        gc_pauses.release()
        services = self.services
        if services is not None:
            for workflow in list(services.runner.running()):
                services.runner.cancel(workflow)
            for _ in range(200):  # at most ~2 s for cancelled runs to record their end
                if not services.runner.running():
                    break
                await asyncio.sleep(0.01)
        await self._stack.aclose()

    async def action_quit(self) -> None:
        running = self.services.runner.running() if self.services else {}
        if running and not self._quit_armed:
            self._quit_armed = True
            self.set_timer(5.0, self._disarm_quit)
            self.say(f"{plural(len(running), 'run')} in progress: press q (or ctrl+q) again within 5 s to cancel "
                     f"{'it' if len(running) == 1 else 'them'} and quit.", severity="warning")
            return
        self.exit(0)

    def _disarm_quit(self) -> None:
        self._quit_armed = False

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown):
            self.asker.person_active()  # someone is at the desk: approvals may open modals again
        await super().on_event(event)

    # --- engine events -------------------------------------------------------------------

    def _trace(self, run_id: int, workflow: str) -> RunTrace:
        trace = self.traces.get(run_id)
        if trace is None:
            from gymconsole.tui.trace import RunTrace  # with the run presenter: loaded after the first paint

            spec = self.config.workflows.get(workflow)
            trace = RunTrace(run_id, workflow, title=spec.title if spec else workflow,
                             max_iterations=spec.max_iterations if spec else 0)
            self.traces[run_id] = trace
        return trace

    @on(TextChunk)
    def _text(self, message: TextChunk) -> None:
        self._trace(message.run_id, message.workflow).add_text(message.text)
        self.run_signal.publish(message.run_id)

    @on(EngineEvent)
    def _engine_event(self, message: EngineEvent) -> None:
        from gymconsole.engine.events import ApprovalDecided, Notice, RunFinished, RunStarted  # loaded with the engine

        event = message.event
        if not self.screen_stack:  # closing: the screens are gone (the run's end is recorded by the engine)
            return
        if event.run_id not in self.traces and (not event.run_id or isinstance(event, ApprovalDecided)):
            self.request_state()  # decided later from the pending list: its run is over, no live view to wake
            return
        trace = self._trace(event.run_id, event.workflow)
        trace.apply(event)
        self.run_signal.publish(event.run_id)
        if isinstance(event, RunStarted):
            self._run_started(trace)
        elif isinstance(event, RunFinished):
            self._run_finished(trace)
        elif isinstance(event, ApprovalDecided):
            self.request_state()
        elif isinstance(event, Notice) and event.level == "error":
            self.say(f"{trace.title}: {one_line(event.message, 200)}", severity="error")

    def _run_started(self, trace: RunTrace) -> None:
        from gymconsole.tui.screens.live import LiveScreen, open_live

        self.request_state()
        if trace.workflow == "ask":  # a question streams on the ask screen
            return
        if isinstance(self.screen, DashboardScreen):
            open_live(self, trace.run_id)
        elif not isinstance(self.screen, LiveScreen):
            self.say(f"{trace.title} started (run #{trace.run_id}): press l to watch it.")

    def _run_finished(self, trace: RunTrace) -> None:
        self.request_state()
        if trace.workflow == "ask" and self.is_screen_installed("ask") and self.screen is self.get_screen("ask"):
            return
        detail = one_line(trace.error or trace.summary, 160)
        self.say(f"{trace.title} #{trace.run_id} {trace.status.replace('_', ' ')}" + (f": {detail}" if detail else ""),
                 severity=FINISHED_SEVERITY.get(trace.status, "warning"))
        self._forget_old_runs()

    def _forget_old_runs(self) -> None:
        """Keep the live views of the newest ``console.live_runs`` finished runs; older ones reopen from history."""
        finished = [run_id for run_id, t in self.traces.items() if t.finished]
        for run_id in finished[:-self.config.console.live_runs]:
            del self.traces[run_id]
            self.run_signal.publish(run_id)  # the live screen drops its tab

    @on(ApprovalsChanged)
    def _approvals_changed(self) -> None:
        self.request_state()

    # --- state -------------------------------------------------------------------------

    def request_state(self) -> None:
        """Reload the dashboard's snapshot soon (requests in a burst are served by one load)."""
        if self.services is not None and self._state_timer is None:
            self._state_timer = self.set_timer(STATE_COALESCE_SECONDS, self._load_state)

    def _load_state(self) -> None:
        self._state_timer = None
        services = self.services

        async def load() -> None:
            self.post_message(StateLoaded(await load_state(services, demo=self.demo, asking=self.asker.waiting)))

        self.run_worker(load(), name="refresh the dashboard", group="state", exclusive=True, exit_on_error=False)

    @on(StateLoaded)
    def _state_loaded(self, message: StateLoaded) -> None:
        self.state = message.state
        self.state_signal.publish(message.state)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a failed worker is reported: a notification, never a crashed screen."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            log.error("worker %s failed", event.worker.name, exc_info=error)
            self.say(f"{event.worker.name or 'task'} failed: {type(error).__name__}: {error}", severity="error",
                     timeout=12)

    # --- actions -------------------------------------------------------------------------

    def _engine(self) -> Services | None:
        if self.services is None:
            self.say(self.startup_error or "Still starting: try again in a moment.", severity="warning")
        return self.services

    def action_run_workflow(self, name: str) -> None:
        services = self._engine()
        if services is None:
            return
        running = services.runner.running()
        if name in running:
            self.say(f"{name} is already running (run #{running[name]}).")
            self.action_open_live(running[name])
            return
        scheduler = services.scheduler

        async def run() -> None:
            await scheduler.run_now(name)

        self.run_worker(run(), name=f"run {name}", group=f"run-{name}", exit_on_error=False)

    def action_cancel_workflow(self, name: str) -> None:
        services = self._engine()
        if services is not None and services.runner.cancel(name):
            self.say(f"Cancelling {name}…", severity="warning")

    def action_toggle_pause(self, name: str) -> None:
        services = self._engine()
        if services is None:
            return
        scheduler = services.scheduler
        title = self.config.title_of(name)

        async def toggle() -> None:
            if scheduler.is_paused(name):
                await scheduler.resume(name)
                self.say(f"{title} resumed.")
            else:
                await scheduler.pause(name)
                self.say(f"{title} paused: it will not run on its schedule.", severity="warning")
            self.request_state()

        self.run_worker(toggle(), name=f"pause {name}", group="pause", exit_on_error=False)

    def action_pause_all(self) -> None:
        services = self._engine()
        if services is None:
            return
        scheduler = services.scheduler

        async def toggle() -> None:
            if scheduler.paused_all:
                await scheduler.resume(None)
                self.say("Scheduler resumed.")
            else:
                await scheduler.pause(None)
                self.say("Every workflow paused.", severity="warning")
            self.request_state()

        self.run_worker(toggle(), name="pause all", group="pause", exit_on_error=False)

    def action_toggle_dry_run(self) -> None:
        if self.services is not None:
            self.services.runner.dry_run = not self.services.runner.dry_run
        else:
            self._dry_run = not self._dry_run
        on_now = self.dry_run_mode
        self.say("Dry run ON: acting tools only report what they would do." if on_now else "Dry run OFF: acts are real.",
                 severity="warning" if not on_now else "information")
        self.request_state()

    # --- navigation --------------------------------------------------------------------

    def _to_dashboard(self) -> bool:
        """Close every screen above the dashboard; False while an approval is on screen."""
        from gymconsole.tui.screens.approval import ApprovalModal

        if any(isinstance(screen, ApprovalModal) for screen in self.screen_stack):
            self.say("Decide the approval first (y approve, n deny).", severity="warning")
            return False
        while len(self.screen_stack) > 1 and not isinstance(self.screen, DashboardScreen):
            self.pop_screen()
        return True

    def action_open_dashboard(self) -> None:
        self._to_dashboard()

    def action_open_live(self, run_id: int | None = None) -> None:
        from gymconsole.tui.screens.live import LiveScreen, open_live

        if run_id is not None and run_id not in self.traces:
            self.action_open_run(run_id)  # no longer kept live: its replay, from the history
            return
        if isinstance(self.screen, LiveScreen):
            if run_id is not None:
                self.screen.show_run(run_id)
            return
        if self._to_dashboard():
            open_live(self, run_id)

    def action_open_history(self) -> None:
        from gymconsole.tui.screens.history import HistoryScreen

        if self._to_dashboard():
            if not self.is_screen_installed("history"):  # built once: it keeps its filters between visits
                self.install_screen(HistoryScreen(), "history")
            self.push_screen("history")

    def action_open_approvals(self) -> None:
        from gymconsole.tui.screens.pending import PendingScreen

        if self._to_dashboard():
            self.push_screen(PendingScreen())

    def action_open_config(self) -> None:
        from gymconsole.tui.screens.config_view import ConfigScreen

        if self._to_dashboard():
            self.push_screen(ConfigScreen())

    def action_open_import(self) -> None:
        """The Import screen: each table's freshness, preview and apply an export."""
        from gymconsole.tui.screens.import_screen import ImportScreen

        if self._to_dashboard():
            self.push_screen(ImportScreen())

    def action_ask(self) -> None:
        """The assistant's prompt (one screen, kept: the conversation goes on between visits)."""
        from gymconsole.tui.screens.approval import ApprovalModal
        from gymconsole.tui.screens.ask import AskScreen

        if isinstance(self.screen, AskScreen):
            return
        if any(isinstance(screen, ApprovalModal) for screen in self.screen_stack):
            self.say("Answer the approval request first (y approves, n denies); then ? asks.", severity="warning")
            return
        if not self.is_screen_installed("ask"):
            self.install_screen(AskScreen(), "ask")
        self.push_screen("ask")

    def action_open_rules(self) -> None:
        from gymconsole.tui.screens.rules import RulesScreen

        if self._to_dashboard():
            self.push_screen(RulesScreen())

    def action_saved_question(self, name: str) -> None:
        """Ask a saved question again (offline: run its stored queries) on the ask screen."""
        self.action_ask()
        if self.is_screen_installed("ask"):
            screen = self.get_screen("ask")
            screen.call_after_refresh(screen.run_saved, name)  # type: ignore[attr-defined]

    def action_open_run(self, run_id: int) -> None:
        from gymconsole.tui.screens.replay import ReplayScreen

        self.push_screen(ReplayScreen(run_id))


def make_app(config: Config, *, db_path: Path | None = None, clock: Clock | None = None, api_key: str | None = None,
             base_url: str | None = None, offline: bool = False, dry_run: bool | None = None,
             actor: str | None = None, use_env_key: bool = True, database: Database | None = None) -> GymConsoleApp:
    """The console for a configuration; the CLI, the tests and the screenshots all build it here.

    ``api_key`` None means "from the environment" (unless ``use_env_key`` is False); the key is
    only handed to the engine, never shown.
    """
    key = api_key if api_key is not None else (find_api_key() if use_env_key else None)
    return GymConsoleApp(config, db_path=db_path, clock=clock, api_key=key, base_url=base_url, offline=offline,
                         dry_run=dry_run, actor=actor, database=database)
