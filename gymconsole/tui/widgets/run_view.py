"""One run on screen: status strip, reasoning stream, tool calls, call detail.

The same widget shows a live run (the app calls :meth:`RunView.sync` as
events arrive) and a replayed one (a trace built from stored events).  It
draws from a :class:`~gymconsole.tui.trace.RunTrace` and remembers how far it
has drawn, so a sync after many events costs only what is new.
"""

from __future__ import annotations

import json
import re

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Log, Static

from gymconsole.present.run_events import mode_words, trigger_words
from gymconsole.present.sanitize import deep_visible, visible
from gymconsole.present.words import status_words, tool_words
from gymconsole.tui.format import (
    DECISION_STYLE,
    RISK_STYLE,
    STATUS_STYLE,
    cell,
    compact,
    duration,
    money,
    one_line,
    styled,
    theme_style,
    tokens,
)
from gymconsole.tui.trace import RunTrace, ToolCall
from gymconsole.tui.widgets.thinking import ThinkingView

MAX_LOG_LINES = 20_000
REDRAW_HZ = 10
_TOKENS = re.compile(r"\n|[^\S\n]+|\S+")

CALL_COLUMNS = ("#", "action", "result", "decision", "risk", "time", "arguments")
COLUMN_WIDTHS = {"result": 30}


def no_call_selected() -> Text:
    return Text("Select a tool call to see its arguments and result.", style="italic")


class RunStatus(Static):
    """The strip above a run: status, iteration, tokens, cost, rate-limit waits."""

    _shown = ""

    def show(self, trace: RunTrace) -> None:
        app = self.app
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {status_words(trace.status)} ",
                    theme_style(app, STATUS_STYLE.get(trace.status, "foreground"), bold=True))
        text.append(f" {visible(trace.title or trace.workflow)} #{trace.run_id}", theme_style(app, "foreground", bold=True))
        tags = [mode_words(trace.mode, trace.model) if trace.mode else "…",
                trigger_words(trace.trigger) if trace.trigger else ""] + (["DRY RUN"] if trace.dry_run else [])
        text.append("  " + " · ".join(tag for tag in tags if tag), theme_style(app, "foreground-muted"))
        limit = f" of {trace.max_iterations}" if trace.max_iterations else ""
        text.append(f"  step {trace.iteration}{limit}")
        text.append(f"  AI cost {money(trace.cost_usd)}")
        if trace.total_tokens:
            text.append(f" ({tokens(trace.total_tokens)} tokens)", theme_style(app, "foreground-muted"))
        if trace.rate_limit_waits:
            text.append(f"  rate-limit waits {trace.rate_limit_waits} ({duration(trace.rate_limit_seconds)})",
                        theme_style(app, "warning"))
        if trace.waiting_approval:
            text.append("  ⏳ waiting for approval", theme_style(app, "warning", bold=True))
        if text.plain != self._shown:  # an update costs a layout; most events leave the strip as it was
            self._shown = text.plain
            self.update(text)


class NarrationLog(Log):
    """A :class:`Log` that word-wraps streamed text to its width.

    ``Log.write`` appends to the last line, which suits streamed deltas, but it
    never wraps.  Words are wrapped here as they arrive; the word still being
    streamed is held back until it is complete (or the run ends), so a word is
    never split across a line break.  A change of width asks for a redraw.
    """

    class Rewrap(Message):
        """The width changed; the owner should clear and add the text again."""

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes, highlight=False, max_lines=MAX_LOG_LINES)
        self._column = 0
        self._held = ""
        self._width = 0
        self._wrapped_at = 0

    def _wrap_width(self) -> int:
        return max(20, self.scrollable_content_region.width - 1)

    def on_resize(self) -> None:
        self._width = self._wrap_width()
        if self._wrapped_at and self._wrapped_at != self._width:
            self.post_message(self.Rewrap())

    def clear_text(self) -> None:
        self.clear()
        self._column, self._held, self._wrapped_at = 0, "", 0

    def add(self, text: str, *, final: bool = False) -> None:
        """Append streamed text, wrapped; ``final`` writes the held-back last word too."""
        text = self._held + text
        if final:
            self._held = ""
        else:
            cut = max(text.rfind(" "), text.rfind("\n")) + 1
            text, self._held = text[:cut], text[cut:]
        if text:
            self.write(self._wrap(text))

    def _wrap(self, text: str) -> str:
        width = self._wrapped_at = self._width or self._wrap_width()
        out: list[str] = []
        column = self._column
        for token in _TOKENS.findall(text):
            if token == "\n":
                out.append("\n")
                column = 0
            elif token.isspace():
                if column + len(token) > width:
                    out.append("\n")
                    column = 0
                elif column:
                    out.append(token)
                    column += len(token)
            else:
                while len(token) > width - column:
                    if column:
                        out.append("\n")
                        column = 0
                        continue
                    out.append(token[:width] + "\n")
                    token = token[width:]
                out.append(token)
                column += len(token)
        self._column = column
        return "".join(out)


class RunView(Vertical):
    """A live or replayed run."""

    def __init__(self, trace: RunTrace, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="run-view")
        self.trace = trace
        self._text_drawn = 0
        self._call_versions: dict[str, int] = {}
        self._drawn_version = -1
        self._sync_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield RunStatus(classes="run-status")
        yield ThinkingView()
        with Horizontal(classes="run-body"):
            log = NarrationLog(classes="reasoning")
            log.border_title = "reasoning"
            yield log
            with Vertical(classes="tool-pane"):
                table: DataTable[Text] = DataTable(classes="tool-calls", cursor_type="row", zebra_stripes=True)
                table.border_title = "tool calls"
                yield table
                with VerticalScroll(classes="tool-detail-scroll") as scroll:
                    scroll.border_title = "call detail"
                    yield Static(no_call_selected(), classes="tool-detail")

    def on_mount(self) -> None:
        tables = self.query(DataTable)
        if not tables:  # removed while it was mounting (the live screen let go of an old run)
            return
        table = tables.first()
        for name in CALL_COLUMNS:
            table.add_column(name, key=name, width=COLUMN_WIDTHS.get(name))
        self.sync()

    def show_trace(self, trace: RunTrace) -> None:
        """Show another run in this view: its narration, calls and status drawn from the start of its trace."""
        if trace is self.trace:
            return
        self.trace = trace
        self._text_drawn = 0
        self._call_versions = {}
        self._drawn_version = -1
        self.query_one(NarrationLog).clear_text()
        self.query_one(DataTable).clear()
        self.query_one(".tool-detail", Static).update(no_call_selected())
        self.sync()

    def request_sync(self) -> None:
        """Draw soon: bursts of events are drawn together, at most :data:`REDRAW_HZ` times a second."""
        if self.trace.finished:
            self.sync()  # the end of a run is shown at once
        elif self._sync_timer is None:
            self._sync_timer = self.set_timer(1 / REDRAW_HZ, self._timed_sync)

    def _timed_sync(self) -> None:
        self._sync_timer = None
        self.sync()

    def sync(self) -> None:
        """Draw whatever the trace gained since the last sync."""
        if self._sync_timer is not None:
            self._sync_timer.stop()
            self._sync_timer = None
        trace = self.trace
        if trace.version == self._drawn_version and self._text_drawn == len(trace.text):
            return
        self._drawn_version = trace.version
        if self._text_drawn < len(trace.text):
            new = "".join(trace.text[self._text_drawn:])
            self._text_drawn = len(trace.text)
            self.query_one(NarrationLog).add(new, final=trace.finished)
        table: DataTable[Text] = self.query_one(DataTable)
        for number, call in enumerate(trace.calls.values(), start=1):
            if self._call_versions.get(call.call_id) == call.version:
                continue
            cells = self._cells(number, call)
            if call.call_id in self._call_versions:
                for column, value in zip(CALL_COLUMNS, cells):
                    table.update_cell(call.call_id, column, value, update_width=True)
            else:
                table.add_row(*cells, key=call.call_id)
            self._call_versions[call.call_id] = call.version
            if table.cursor_row == table.get_row_index(call.call_id):
                self._show_detail(call)
        self.query_one(RunStatus).show(trace)
        self.query_one(ThinkingView).show(trace)

    def _cells(self, number: int, call: ToolCall) -> list[Text]:
        app = self.app
        error = theme_style(app, "error", bold=True)
        name = cell(tool_words(call.name, call.input), error if call.is_error else "")
        if not call.finished:
            result = (cell("running…", theme_style(app, "accent")) if not self.trace.finished
                      else cell("never finished", theme_style(app, "warning")))
        else:
            result = cell(one_line(call.summary or compact(call.result), 44), error if call.is_error else "")
        spent = duration(call.duration_ms / 1000) if call.duration_ms is not None else ""
        decision = styled(app, call.decision or "", DECISION_STYLE)
        return [cell(number), name, result, decision, styled(app, call.risk, RISK_STYLE), cell(spent),
                cell(compact(call.input, 40))]

    @on(NarrationLog.Rewrap)
    def _rewrap(self) -> None:
        """The pane changed width: draw the narration again, wrapped to fit."""
        self.query_one(NarrationLog).clear_text()
        self._text_drawn = 0
        self._drawn_version = -1
        self.sync()

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None and event.row_key.value in self.trace.calls:
            self._show_detail(self.trace.calls[event.row_key.value])

    def _show_detail(self, call: ToolCall) -> None:
        text = Text(no_wrap=False)
        text.append(tool_words(call.name, call.input), theme_style(self.app, "error" if call.is_error else "accent",
                                                                   bold=True))
        text.append(f"  (tool {visible(call.name)})  risk {call.risk}")
        if call.decision:
            text.append(f"  decision {visible(call.decision)}")
        if call.duration_ms is not None:
            text.append(f"  {duration(call.duration_ms / 1000)}")
        text.append("\narguments\n", "bold")
        text.append(_pretty(call.input))
        text.append("\nresult\n", "bold")
        text.append(visible(call.summary, multiline=True) + "\n" if call.summary else "")
        text.append(_pretty(call.result) if call.finished else "(running)")
        self.query_one(".tool-detail", Static).update(text)


def _pretty(value: object) -> str:
    try:
        return json.dumps(deep_visible(value), indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)
