"""How the approval gate reaches the manager in the console.

The gate calls :meth:`ModalAsker.__call__` from an engine task (a manual run
or a scheduled job), never from a Textual worker, so the modal is pushed with
a callback that resolves an :class:`asyncio.Future` (``push_screen_wait``
would fail there).  Requests queue: one modal at a time, in arrival order.
When the gate's timeout cancels the wait, the modal is closed and the
cancellation goes back to the gate, which records the request as pending.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.message import Message

from gymconsole.clock import Clock

if TYPE_CHECKING:
    from gymconsole.engine.gate import ApprovalRequest
    from gymconsole.tools.registry import Decision
    from gymconsole.tui.screens.approval import ApprovalModal

log = logging.getLogger(__name__)


class ApprovalsChanged(Message):
    """A request started or stopped waiting for the manager."""


def current_actor() -> str:
    """Who is deciding: the logged-in user's name."""
    try:
        return getpass.getuser() or "manager"
    except (KeyError, OSError):
        return "manager"


class ModalAsker:
    """The TUI's :data:`~gymconsole.engine.gate.Asker`."""

    def __init__(self, app: App[Any], clock: Clock, *, actor: str | None = None) -> None:
        self.app = app
        self.clock = clock
        self.actor = actor or current_actor()
        self._turn = asyncio.Lock()
        self.waiting = 0
        """Requests asked and not yet answered (the one on screen included)."""
        self.current: ApprovalModal | None = None

    async def __call__(self, request: ApprovalRequest) -> Decision:
        self.waiting += 1
        self.app.post_message(ApprovalsChanged())
        try:
            async with self._turn:
                return await self._ask(request)
        finally:
            self.waiting -= 1
            self.app.post_message(ApprovalsChanged())

    async def _ask(self, request: ApprovalRequest) -> Decision:
        # Loaded here, not at start-up: the console paints before the modal (and the tools) are needed.
        from gymconsole.tools.registry import Decision
        from gymconsole.tui.screens.approval import ApprovalModal

        answer: asyncio.Future[Decision | None] = asyncio.get_running_loop().create_future()

        def resolved(decision: Decision | None) -> None:
            if not answer.done():
                answer.set_result(decision)

        modal = ApprovalModal(request, clock=self.clock, actor=self.actor, queued=self.waiting - 1)
        self.current = modal
        self.app.push_screen(modal, callback=resolved)
        self.app.bell()
        try:
            decision = await answer
        except asyncio.CancelledError:
            self._close(modal)
            raise
        finally:
            self.current = None
        if decision is None:  # closed without a decision: nothing happens
            return Decision(status="denied", via="tui", actor=self.actor, reason="closed without a decision",
                            approval_id=request.approval_id)
        return decision

    def _close(self, modal: ApprovalModal) -> None:
        """Take a modal off the screen stack when its request timed out or was cancelled."""
        if modal not in self.app.screen_stack:
            return
        try:
            if self.app.screen is not modal:
                modal.pop_until_active()
            modal.dismiss(None)
        except Exception:  # the app may be shutting down; the gate's outcome stands either way
            log.exception("could not close the approval modal")
        self.app.notify(f"Approval #{modal.request.approval_id} timed out: it waits in Pending approvals (a).",
                        severity="warning", timeout=8)
