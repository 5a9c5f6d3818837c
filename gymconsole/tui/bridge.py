"""The one place engine events enter Textual.

:class:`EventBridge` is an :class:`~gymconsole.engine.events.EventBus`
subscriber.  It turns each event into a Textual message posted to the app
(``post_message`` is thread-safe), so the engine never imports Textual and no
engine code ever touches a widget.  Text deltas arrive at model speed (or
thousands a second from the offline playbooks); they are buffered per run and
flushed as one :class:`TextChunk` about 15 times a second, always before the
next non-text event of that run so the order on screen is the order of the run.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from textual.message import Message
from textual.message_pump import MessagePump

if TYPE_CHECKING:  # the console paints before the engine's modules load
    from gymconsole.engine.events import Event, EventBus, TextDelta

FLUSH_SECONDS = 1 / 15


class EngineEvent(Message):
    """A non-text engine event, in run order."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class TextChunk(Message):
    """Buffered narration of one run since the last flush."""

    def __init__(self, run_id: int, workflow: str, text: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.workflow = workflow
        self.text = text


class EventBridge:
    """Subscribes to the bus and posts :class:`EngineEvent` / :class:`TextChunk` to ``target``."""

    def __init__(self, target: MessagePump, *, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._target = target
        self._flush_seconds = flush_seconds
        self._pending: dict[int, tuple[str, list[str]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.posted = 0
        """Messages posted so far (the bench reads it)."""

    def attach(self, bus: EventBus) -> None:
        """Start listening; call from the event loop the engine runs on."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._unsubscribe = bus.subscribe(self)

    def detach(self) -> None:
        """Stop listening and drop any buffered text timer."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def __call__(self, event: Event) -> None:
        if self._loop is not None and threading.get_ident() != self._thread:
            self._loop.call_soon_threadsafe(self, event)  # keep buffering on one thread
            return
        if event.kind == "text":  # by kind, not class: the bridge is built before the engine's modules load
            text = cast("TextDelta", event).text
            if not text:
                return
            self._pending.setdefault(event.run_id, (event.workflow, []))[1].append(text)
            if self._timer is None and self._loop is not None:
                self._timer = self._loop.call_later(self._flush_seconds, self._on_timer)
            elif self._loop is None:
                self.flush(event.run_id)
            return
        self.flush(event.run_id)
        self._post(EngineEvent(event))

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self, run_id: int | None = None) -> None:
        """Post the buffered text of one run (or of every run)."""
        for key in [run_id] if run_id is not None else list(self._pending):
            pending = self._pending.pop(key, None) if key is not None else None
            if pending is not None:
                workflow, parts = pending
                self._post(TextChunk(key, workflow, "".join(parts)))

    def _post(self, message: Message) -> None:
        self.posted += 1
        self._target.post_message(message)
