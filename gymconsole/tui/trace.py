"""What the console knows about one run, built from its events.

A live run and a replayed one are the same thing here: a :class:`RunTrace`
folds engine events (from the bus, or from ``history.events(run_id)``) into
plain state that :class:`~gymconsole.tui.widgets.run_view.RunView` renders.
Views never keep their own copy: they remember how much of the trace they
have drawn and draw the rest (``text`` offsets, call versions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gymconsole.engine.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    IterationStarted,
    RateLimitWait,
    RunFinished,
    RunStarted,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolCallFinished,
    ToolCallStarted,
    UsageUpdated,
)
from gymconsole.present.run_events import RunPresenter
from gymconsole.present.sanitize import visible


@dataclass
class ToolCall:
    """One tool call as the tool pane shows it."""

    call_id: str
    name: str
    input: Any = None
    risk: str = "safe"
    summary: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    duration_ms: float | None = None
    is_error: bool = False
    decision: str | None = None
    finished: bool = False
    version: int = 0


@dataclass
class RunTrace:
    """The state of one run, folded from its events."""

    run_id: int
    workflow: str
    title: str = ""
    mode: str = ""
    trigger: str = ""
    dry_run: bool = False
    model: str = ""
    status: str = "running"
    iteration: int = 0
    max_iterations: int = 0
    text: list[str] = field(default_factory=list)
    """The narration in order, with notices and approvals as their own lines."""
    calls: dict[str, ToolCall] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=lambda: {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0})
    cost_usd: float = 0.0
    rate_limit_waits: int = 0
    rate_limit_seconds: float = 0.0
    waiting_approval: str = ""
    summary: str = ""
    error: str | None = None
    version: int = 0
    presenter: RunPresenter = field(default_factory=RunPresenter, repr=False, compare=False)
    thinking: list[str] = field(default_factory=list)
    """The model's extended thinking (shown apart from the narration)."""
    thinking_redacted: int = 0
    acts: dict[str, int] = field(default_factory=dict)
    attention: str | None = None
    _thinking_live: bool = False

    @property
    def finished(self) -> bool:
        return self.status != "running"

    def add_text(self, text: str) -> None:
        if text:
            self.text.append(visible(text, multiline=True))
            self.version += 1

    def _line(self, text: str) -> None:
        """A line of its own in the narration (after whatever text came before)."""
        prefix = "" if not self.text or self.text[-1].endswith("\n") else "\n"
        self.add_text(f"{prefix}{text}\n")

    def apply(self, event: Event) -> None:
        """Fold one event into the trace; the narration gets the presenter's lines (tool calls have their table)."""
        self.version += 1
        match event:
            case TextDelta():
                self.add_text(event.text)
                return
            case ThinkingDelta():
                self.thinking.append(visible(event.text, multiline=True))
                self._thinking_live = True
                return
            case ThinkingBlock():
                if event.redacted:
                    self.thinking_redacted += 1
                elif not self._thinking_live:  # a replay: the stored block, whole
                    self.thinking.append(visible(event.text, multiline=True))
                if self.thinking and not self.thinking[-1].endswith("\n"):
                    self.thinking.append("\n\n")
                self._thinking_live = False
                return
            case RunStarted():
                self.mode, self.trigger, self.dry_run, self.model = event.mode, event.trigger, event.dry_run, event.model
                self.status = "running"
                return
            case IterationStarted():
                self.iteration = event.iteration
            case ToolCallStarted():
                call = self.calls.setdefault(event.call_id, ToolCall(event.call_id, event.name))
                call.input, call.risk = event.input, event.risk
                call.version += 1
                return
            case ToolCallFinished():
                call = self.calls.setdefault(event.call_id, ToolCall(event.call_id, event.name))
                call.summary, call.result, call.duration_ms = event.summary, event.result, event.duration_ms
                call.is_error, call.risk, call.decision, call.finished = event.is_error, event.risk, event.decision, True
                call.version += 1
                return
            case ApprovalRequested():
                self.waiting_approval = visible(event.title)
            case ApprovalDecided():
                self.waiting_approval = ""
            case UsageUpdated():
                self.usage = {"input": event.input_tokens, "output": event.output_tokens,
                              "cache_read": event.cache_read_tokens, "cache_write": event.cache_write_tokens}
                self.cost_usd = event.cost_usd
            case RateLimitWait():
                self.rate_limit_waits += 1
                self.rate_limit_seconds += event.seconds
            case RunFinished():
                self.status, self.summary, self.error = event.status, event.summary, event.error
                self.acts, self.attention = dict(event.acts), event.attention
                self.iteration = max(self.iteration, event.iterations)
                self.waiting_approval = ""
        for line in self.presenter.lines(event):
            self._line(line.plain.strip())

    @classmethod
    def from_events(cls, run_id: int, workflow: str, events: list[Event], **fields: Any) -> RunTrace:
        trace = cls(run_id, workflow, **fields)
        for event in events:
            trace.apply(event)
        return trace

    @property
    def total_tokens(self) -> int:
        return sum(self.usage.get(key, 0) for key in ("input", "output", "cache_read", "cache_write"))  # cached too
