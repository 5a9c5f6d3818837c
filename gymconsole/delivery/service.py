"""The engine's link to the outside world: an event-bus subscriber that sends the outbox and alerts.

Wiring (in ``open_services``)::

    delivery = DeliveryService(db=db, config=config, clock=clock)
    bus.subscribe(delivery)
    ...
    await delivery.aclose()   # on the way out, before the database closes

When a run finishes (or an approval is decided) it starts one drain of the
outbox in the background; failed runs and long-waiting approvals become
alerts.  Nothing here sleeps on the clock: retries and paced messages go out
at the next drain (the next run, or ``gymconsole outbox send``), so a fake
clock in tests never jumps by itself.  Work runs in tasks the service tracks;
``aclose`` lets work in flight finish (bounded), never cutting a message off mid-send.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from gymconsole.clock import Clock
from gymconsole.config import Config
from gymconsole.db import Database
from gymconsole.delivery.alerts import AlertNotifier
from gymconsole.delivery.sender import DrainReport, OutboxSender

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_SECONDS = 30.0


class DeliveryService:
    """Subscribe it to the engine's EventBus: ``bus.subscribe(DeliveryService(db=..., config=..., clock=...))``."""

    def __init__(self, *, db: Database, config: Config, clock: Clock, sender: OutboxSender | None = None,
                 alerts: AlertNotifier | None = None) -> None:
        self.sender = sender or OutboxSender(db, config, clock)
        self.alerts = alerts or AlertNotifier(db, config, clock)
        self.last_drain: DrainReport | None = None
        self._drain: asyncio.Task[DrainReport] | None = None
        self._again = False
        self._closing = False
        self._stop_drain = False
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __call__(self, event: Any) -> None:
        """The bus subscriber: returns at once, the work runs in tracked tasks."""
        from gymconsole.engine.events import ApprovalDecided, ApprovalRequested, RunFinished, RunStarted

        if self._closing:
            return
        if isinstance(event, RunFinished | ApprovalDecided):
            self.kick()
        if isinstance(event, RunStarted | RunFinished | ApprovalRequested):
            self._spawn(self.alerts.handle(event))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed", exc_info=task.exception())

    def kick(self) -> None:
        """Start a drain of the outbox now (or once more after the one in progress)."""
        if not self.sender.enabled or self._closing:
            return
        if self._drain is not None and not self._drain.done():
            self._again = True
            return
        self._drain = asyncio.get_running_loop().create_task(self._drain_loop())
        self._tasks.add(self._drain)
        self._drain.add_done_callback(self._done)

    async def _drain_loop(self) -> DrainReport:
        while True:
            self._again = False
            self.last_drain = await self.sender.drain_once(stop=lambda: self._stop_drain)
            if self.last_drain.sent or self.last_drain.failed or self.last_drain.retrying:
                log.info("outbox drain: %s", self.last_drain.line())
            if not self._again or self._stop_drain:
                return self.last_drain

    async def idle(self) -> None:
        """Wait until every drain and alert started so far has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self, timeout: float = CLOSE_TIMEOUT_SECONDS) -> None:
        """Stop taking new work; let drains and alerts in flight finish.

        After ``timeout`` the drain is asked to stop after the message it is
        sending (so no message is cut off mid-send), and after another
        ``timeout`` whatever is left is cancelled (a message then left
        ``sending`` is resent by the next process with the same Message-ID).
        """
        self._closing = True
        pending: set[asyncio.Task[Any]] = set(self._tasks)
        for phase in range(3):
            if not pending:
                return
            if phase == 1:
                self._stop_drain = True
            if phase == 2:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return
            _, pending = await asyncio.wait(pending, timeout=timeout)
