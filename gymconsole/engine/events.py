"""The engine's typed event stream.

A run emits these as it happens.  The history recorder, the CLI printer and
the TUI are all just subscribers of an :class:`EventBus`; none of them is
known to the engine.  Every event serialises to a JSON-safe dict (``to_dict``)
and back (``event_from_dict``) so a stored run replays through the same code
that shows a live one.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Something that happened in a run."""

    kind: ClassVar[str] = "event"
    run_id: int
    workflow: str

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["kind"] = self.kind
        return data


@dataclass(frozen=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    mode: str = "offline"
    """``claude`` or ``offline``."""
    trigger: str = "manual"
    dry_run: bool = False
    model: str = ""


@dataclass(frozen=True)
class IterationStarted(Event):
    kind: ClassVar[str] = "iteration_started"
    iteration: int = 0


@dataclass(frozen=True)
class TextDelta(Event):
    """A piece of the model's (or the offline playbook's) narration."""

    kind: ClassVar[str] = "text"
    text: str = ""


@dataclass(frozen=True)
class ThinkingDelta(Event):
    """A piece of the model's extended thinking as it streams (shown live; history stores the whole block)."""

    kind: ClassVar[str] = "thinking_delta"
    text: str = ""


@dataclass(frozen=True)
class ThinkingBlock(Event):
    """One whole thinking block, after it streamed; ``redacted`` blocks have no readable text.

    Shown set apart from the answer, stored in history and replayed; never sent anywhere but back to the API
    (the signature stays in the engine).
    """

    kind: ClassVar[str] = "thinking"
    text: str = ""
    redacted: bool = False


@dataclass(frozen=True)
class ToolCallStarted(Event):
    kind: ClassVar[str] = "tool_started"
    call_id: str = ""
    name: str = ""
    input: Any = None
    risk: str = "safe"


@dataclass(frozen=True)
class ToolCallFinished(Event):
    kind: ClassVar[str] = "tool_finished"
    call_id: str = ""
    name: str = ""
    summary: str = ""
    """A short, one-line account of the result."""
    result: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    is_error: bool = False
    risk: str = "safe"
    decision: str | None = None
    """The approval decision for acting tools (``approved``, ``denied``, ``auto``...)."""
    subjects: list[list[Any]] = field(default_factory=list)
    """``[kind, id]`` pairs of the people and records this call touched."""


@dataclass(frozen=True)
class ApprovalRequested(Event):
    kind: ClassVar[str] = "approval_requested"
    approval_id: int = 0
    tool: str = ""
    risk: str = "high"
    title: str = ""
    plan: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: float = 0.0


@dataclass(frozen=True)
class ApprovalDecided(Event):
    kind: ClassVar[str] = "approval_decided"
    approval_id: int | None = None
    tool: str = ""
    status: str = ""
    """``approved``, ``partial``, ``denied``, ``timed_out``, ``dry_run``."""
    via: str = ""
    """``tui``, ``cli``, ``policy``, ``timeout``."""
    actor: str = ""
    reason: str = ""
    approved_count: int = 0


@dataclass(frozen=True)
class UsageUpdated(Event):
    """Cumulative usage of the run after a request."""

    kind: ClassVar[str] = "usage"
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    request_bytes: int = 0
    unknown_requests: int = 0
    """Requests whose usage the API did not report: the cost above leaves them out."""


@dataclass(frozen=True)
class RateLimitWait(Event):
    kind: ClassVar[str] = "rate_limit_wait"
    seconds: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class Notice(Event):
    """Something the manager should see that is not a tool call (a retry, a warning)."""

    kind: ClassVar[str] = "notice"
    level: str = "info"
    message: str = ""


@dataclass(frozen=True)
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    status: str = "succeeded"
    summary: str = ""
    error: str | None = None
    iterations: int = 0
    acts: dict[str, int] = field(default_factory=dict)
    """What the acting tools did, from the gate and the ledger: done, skipped, denied, pending, failed."""
    attention: str | None = None
    """Set when the facts contradict the model's summary (it reported acting, but nothing was done)."""
    resume_at: str | None = None
    """For ``rate_limited``: when the API said the run could go on (ISO time, UTC)."""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (RunStarted, IterationStarted, TextDelta, ThinkingDelta, ThinkingBlock, ToolCallStarted, ToolCallFinished, ApprovalRequested,
                ApprovalDecided, UsageUpdated, RateLimitWait, Notice, RunFinished)
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its stored form (unknown keys are ignored)."""
    cls = EVENT_TYPES[data["kind"]]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


Subscriber = Callable[[Event], Awaitable[None] | None]


class EventBus:
    """Fans events out to subscribers, in order; one failing subscriber never stops a run."""

    def __init__(self, subscribers: list[Subscriber] | None = None) -> None:
        self._subscribers: list[Subscriber] = list(subscribers or [])

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber) if subscriber in self._subscribers else None

    async def emit(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                outcome = subscriber(event)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:
                from gymconsole.db.connection import DatabaseBusy, DatabaseFault

                if isinstance(exc, DatabaseBusy | DatabaseFault):  # the cause is said once, where it ends the run
                    log.info("event subscriber %r skipped %s: %s", subscriber, event.kind, exc)
                else:
                    log.exception("event subscriber %r failed on %s", subscriber, event.kind)
