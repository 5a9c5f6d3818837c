"""The assistant's prompt (``?`` or ``/`` from any screen): ask a question or give a task, watch the answer.

The question runs as an ``ask`` run on the app's engine (a worker of the App,
so closing this screen never stops it); the answer streams here from the run's
trace, tool calls as one line each, Markdown tables drawn as tables, every
value plain text.  Follow-up questions continue the conversation until
``ctrl+n`` starts a new one.  Without an API key it says plainly that asking
needs Claude and lists the saved questions (which run their stored queries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from gymconsole.engine.answer import TableBlock, split_answer
from gymconsole.present.tables import table_renderable
from gymconsole.present.words import decision_words, tool_words
from gymconsole.present.sanitize import visible
from gymconsole.tui.trace import RunTrace
from gymconsole.tui.screens.dashboard import TYPING_QUIT

if TYPE_CHECKING:
    from gymconsole.tui.app import GymConsoleApp

ASK = "ask"
_HIDDEN_LINES = ("ℹ question", "■ ")
"""Trace lines the prompt does not repeat: the question (shown above) and the summary (the answer itself)."""
_NOTE_LINES = ("⚖", "⚠", "⏸", "✗")
"""Trace lines kept above a finished answer: decisions, warnings, waits, errors."""




def render_answer(trace: RunTrace) -> RenderableType:
    """A run's answer: tool calls as one line each, then the narration with its tables drawn."""
    parts: list[RenderableType] = []
    for call in trace.calls.values():
        mark, style = ("✗", "red") if call.is_error else (("✓", "green") if call.finished else ("…", "yellow"))
        decision = f" [{decision_words(call.decision)}]" if call.decision else ""
        parts.append(Text.assemble((f"  {mark} ", style), (tool_words(call.name, call.input), "cyan"),
                                   f": {visible(call.summary) or 'running'}", (decision, "bold")))
    if trace.finished and trace.summary:  # the answer itself, without the narration of earlier steps
        notes = [piece.strip("\n") for piece in trace.text if piece.lstrip("\n").startswith(_NOTE_LINES)]
        parts += [Text(note, style="yellow") for note in notes]
        text = trace.summary
    else:
        text = "".join(piece for piece in trace.text if not piece.lstrip("\n").startswith(_HIDDEN_LINES))
    for piece in split_answer(text.strip("\n")):
        parts.append(table_renderable(piece) if isinstance(piece, TableBlock) else Text(piece.strip("\n")))
    if trace.finished and trace.status != "succeeded":
        parts.append(Text(f"{trace.status.replace('_', ' ')}: {trace.error or ''}".rstrip(": "), style="yellow"))
    return Group(*parts)


class AskFailed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class AskDone(Message):
    def __init__(self, run_id: int, status: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.status = status


class AskScreen(Screen[None]):
    """Questions and answers of this session; the input at the bottom."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "new_conversation", "New conversation"),
        Binding("ctrl+s", "save_question", "Save question"),
        Binding("ctrl+x", "cancel", "Stop", priority=True),  # over the input's "cut": the input always has focus
        TYPING_QUIT,
    ]
    PLACEHOLDER = "Ask a question or give a task, then enter · esc back"
    DEFAULT_CSS = """
    AskScreen #ask-log { height: 1fr; padding: 0 1; }
    AskScreen .ask-question { color: $accent; text-style: bold; margin-top: 1; }
    AskScreen .ask-answer { margin-left: 2; }
    AskScreen #ask-status { height: 1; padding: 0 1; color: $text-muted; }
    AskScreen #ask-input { dock: bottom; margin-bottom: 1; }
    """

    app: GymConsoleApp

    def __init__(self) -> None:
        super().__init__()
        self.last_run: int | None = None
        """The latest answered question of this conversation (a follow-up continues it)."""
        self.waiting = False
        self.current: int | None = None
        self._answers: dict[int, Static] = {}
        self._pending_answer: Static | None = None
        self._asked = ""
        self.last_question = ""
        """The text of ``last_run``'s question (what ctrl+s saves)."""
        self.naming = False
        """True while the input takes a name for the last question instead of a question."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with VerticalScroll(id="ask-log"):
            yield Static(Text("Ask about members, prospects, invoices, payments, door access, or why something "
                              "happened; or give a one-off task (every act asks you first)."), id="ask-intro")
        yield Static("", id="ask-status", markup=False)
        yield Input(placeholder=self.PLACEHOLDER, id="ask-input")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.app.run_signal.subscribe(self, self.run_changed)
        self.query_one("#ask-input", Input).focus()
        if self.app.services is not None and self.app.offline_mode:  # said at once, not after typing a question
            self.run_worker(self._offline_help(), group="ask-help", exit_on_error=False)

    def on_screen_resume(self) -> None:
        self.query_one("#ask-input", Input).focus()

    @property
    def log_view(self) -> VerticalScroll:
        return self.query_one("#ask-log", VerticalScroll)

    def _status(self, text: str) -> None:
        self.query_one("#ask-status", Static).update(Text(text))

    @on(Input.Submitted, "#ask-input")
    async def _submitted(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        if self.naming:
            event.input.value = ""
            self._naming(False)
            self.run_worker(self._save(question, self.last_question, self.last_run), group="ask-save",
                            exit_on_error=False)
            return
        if self.waiting:
            self.app.say("Wait for the answer (or ctrl+x to stop it) before asking again.", severity="warning")
            return
        event.input.value = ""
        await self.log_view.mount(Static(Text(f"? {question}"), classes="ask-question"))
        answer = Static(Text("…", style="dim"), classes="ask-answer")
        await self.log_view.mount(answer)
        self._pending_answer = answer
        self.log_view.scroll_end(animate=False)
        self._asked = question
        self.ask(question)

    def ask(self, question: str) -> None:
        services = self.app.services
        if services is None:
            self.post_message(AskFailed(self.app.startup_error or "still starting: try again in a moment"))
            return
        from gymconsole.engine.ask import AskRefused, Assistant, NeedsClaude
        from gymconsole.engine.runner import AlreadyRunning

        assistant = self.app.assistant
        if assistant is None:
            assistant = self.app.assistant = Assistant(services)
        if not assistant.available:
            self.run_worker(self._offline_help(), group="ask-help", exit_on_error=False)
            return
        self.waiting = True
        self._status("asking Claude…")
        follow_up = self.last_run

        async def run() -> None:
            try:
                result = await assistant.ask(question, follow_up=follow_up)
            except (NeedsClaude, AskRefused, AlreadyRunning) as exc:
                self.post_message(AskFailed(str(exc)))
                return
            self.post_message(AskDone(result.run_id, result.status))

        self.app.run_worker(run(), name="ask the assistant", group="ask", exit_on_error=False)

    async def _offline_help(self) -> None:
        from gymconsole.engine.saved import SavedQuestions

        services = self.app.services
        assert services is not None
        saved = await SavedQuestions(services.db, services.clock).list()
        lines = ["Asking needs Claude: set ANTHROPIC_API_KEY (in the environment or a .env file beside "
                 "config.toml) and restart the console."]
        if saved:
            lines.append("Saved questions (ctrl+p, then the name, runs one; those with stored queries run offline):")
            lines += [f"  {row['name']}: {row['question']}" for row in saved]
        else:
            lines.append("No saved questions yet.")
        self.post_message(AskFailed("\n".join(lines)))

    async def run_saved(self, name: str) -> None:
        """A saved question: asked again, or offline its stored queries run and show as tables."""
        from gymconsole.engine.saved import SavedQuestions, UnknownQuestion

        services = self.app.services
        if services is None:
            return
        saved = SavedQuestions(services.db, services.clock)
        try:
            question = await saved.get(name)
        except UnknownQuestion as exc:
            self.app.say(str(exc), severity="warning")
            return
        if not self.app.offline_mode:
            self.query_one("#ask-input", Input).value = question["question"]
            await self.query_one("#ask-input", Input).action_submit()
            return
        await self.log_view.mount(Static(Text(f"? {question['question']} (offline: its stored queries, no AI)"),
                                         classes="ask-question"))
        parts: list[RenderableType] = []
        for result in await saved.run_offline(name):
            if "error" in result:
                parts.append(Text(result["error"], style="yellow"))
                continue
            rows = [["" if value is None else str(value) for value in row] for row in result["rows"]]
            parts.append(table_renderable(TableBlock([str(c) for c in result["columns"]], rows)))
        if not parts:
            parts.append(Text("This saved question has no stored queries: asking it needs Claude.", style="yellow"))
        await self.log_view.mount(Static(Group(*parts), classes="ask-answer"))
        self.log_view.scroll_end(animate=False)

    @on(AskFailed)
    def _failed(self, message: AskFailed) -> None:
        self.waiting = False
        self._status("")
        target = self._pending_answer
        self._pending_answer = None
        if target is not None:
            target.update(Text(message.text, style="yellow"))
        else:
            self.log_view.mount(Static(Text(message.text, style="yellow"), classes="ask-answer"))
        self.log_view.scroll_end(animate=False)

    async def run_changed(self, run_id: int) -> None:
        trace = self.app.traces.get(run_id)
        if trace is None or trace.workflow != ASK:
            return
        if run_id not in self._answers:
            if self._pending_answer is None or not self.waiting:
                return  # a question asked elsewhere (another screen's saved question)
            self._answers[run_id], self._pending_answer = self._pending_answer, None
            self.current = run_id
        self._answers[run_id].update(render_answer(trace))
        step = f"step {trace.iteration}" if trace.iteration else "starting"
        waiting = f" · waiting for your approval: {trace.waiting_approval}" if trace.waiting_approval else ""
        if not trace.finished:  # the end is told by AskDone, which may come first
            self._status(f"run #{run_id} · {step} · ${trace.cost_usd:.4f}{waiting}")
        self.log_view.scroll_end(animate=False)

    @on(AskDone)
    def _done(self, message: AskDone) -> None:
        self.waiting = False
        self._status(f"run #{message.run_id} {message.status.replace('_', ' ')} · type a follow-up · "
                     "ctrl+s save it · ctrl+n new conversation")
        if message.status == "succeeded":
            self.last_run = message.run_id
            self.last_question = self._asked

    def action_back(self) -> None:
        if self.naming:
            self._naming(False)
            self._status("not saved")
            return
        self.app.pop_screen()

    def _naming(self, on: bool) -> None:
        self.naming = on
        field = self.query_one("#ask-input", Input)
        field.placeholder = ("a name for the last question (letters, digits, - and _), then enter · esc cancels"
                             if on else self.PLACEHOLDER)
        field.focus()

    def action_save_question(self) -> None:
        """Keep the last answered question under a name: the palette lists it, `questions run` asks it again."""
        if not self.last_question:
            self.app.say("Ask a question first; ctrl+s then saves it under a name.", severity="warning")
            return
        self.query_one("#ask-input", Input).value = ""
        self._naming(True)
        self._status(f"saving: {self.last_question[:60]}")

    async def _save(self, name: str, question: str, run_id: int | None) -> None:
        from gymconsole.engine.saved import SavedQuestions

        services = self.app.services
        if services is None:
            return
        saved = SavedQuestions(services.db, services.clock)
        try:
            if run_id is None:
                await saved.save(name, question)
                kept = 0
            else:
                kept = await saved.save_from_run(name, run_id, question)
        except ValueError as exc:
            self.app.say(str(exc), severity="warning")
            self._status("not saved")
            return
        offline = f"; its {kept} queries also run without Claude" if kept else ""
        self._status(f"saved as {name}: ctrl+p runs it again{offline}")

    def action_new_conversation(self) -> None:
        self.last_run = None
        self._status("new conversation")
        self.log_view.mount(Static(Text("— new conversation —", style="dim")))

    def action_cancel(self) -> None:
        assistant = self.app.assistant
        if assistant is not None and assistant.cancel():
            self._status("stopping…")
