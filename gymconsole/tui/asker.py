"""How the approval gate reaches the manager in the console.

The gate calls :meth:`ModalAsker.__call__` from an engine task (a manual run
or a scheduled job), never from a Textual worker, so the modal is pushed with
a callback that resolves an :class:`asyncio.Future` (``push_screen_wait``
would fail there).  Requests queue: one modal at a time, in arrival order.
When the gate's timeout cancels the wait, the modal is closed and the
cancellation goes back to the gate, which records the request as pending.

A console left open overnight must not greet the manager with modal after
modal: once a question goes unanswered with no key pressed while it was on
screen, the desk counts as unattended.  Until the next key press or click,
new requests are not shown but saved as pending at once, and ONE notice,
updated in place, says how many are waiting.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.message import Message
from textual.notifications import Notification

from gymconsole.clock import Clock
from gymconsole.tui.toasts import replace_toast

if TYPE_CHECKING:
    from gymconsole.engine.gate import ApprovalRequest
    from gymconsole.tools.registry import Decision
    from gymconsole.tui.screens.approval import ApprovalModal

log = logging.getLogger(__name__)

AWAY_NOTICE_SECONDS = 24 * 3600.0
"""How long the "approvals waiting" notice stays up (it goes at once when replaced)."""


class ApprovalsChanged(Message):
    """A request started or stopped waiting for the manager."""


def current_actor() -> str:
    """Who is deciding: the logged-in user's name."""
    try:
        import getpass  # only when an approval names who decided

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
        self.away = False
        """Nobody answered the last question: new ones go to the pending list, not on screen."""
        self.saved_while_away = 0
        """Requests saved as pending since the desk became unattended (what the notice counts)."""
        self.notice: Notification | None = None
        self._inputs = 0
        """Key presses and clicks so far (a counter, not a time: fake clocks stand still in tests)."""

    def person_active(self) -> None:
        """A key press or click: someone is at the desk, so questions open again."""
        self._inputs += 1
        if self.away:
            self.away = False
            self.saved_while_away = 0  # the notice stays up with its count until it is replaced

    async def __call__(self, request: ApprovalRequest) -> Decision:
        if self.away:
            return self._save_unseen(request)
        self.waiting += 1
        self.app.post_message(ApprovalsChanged())
        queued = True
        try:
            async with self._turn:
                queued = False
                if self.away:  # the question before this one went unanswered
                    return self._save_unseen(request)
                return await self._ask(request)
        except asyncio.CancelledError:
            if queued:  # its time ran out behind another question: it never reached the screen
                self._saved(request)
            raise
        finally:
            self.waiting -= 1
            self.app.post_message(ApprovalsChanged())

    def _save_unseen(self, request: ApprovalRequest) -> Decision:
        from gymconsole.tools.registry import Decision  # noqa: PLC0415 (loaded after the first paint)

        self._saved(request)
        return Decision(status="timed_out", via="timeout", actor=self.actor,
                        reason="nobody at the desk; saved for a person to decide", approval_id=request.approval_id)

    def _saved(self, request: ApprovalRequest) -> None:
        """One more request waits in the pending list: say so in the one notice (replacing the last)."""
        self.saved_while_away += 1
        count = self.saved_while_away
        text = (f"Approval #{request.approval_id} was not answered in time: it waits in Pending approvals (a)."
                if count == 1 else f"{count} approvals came in while nobody answered: they wait in Pending "
                "approvals (a). No more pop up until a key is pressed.")
        self.notice = replace_toast(self.app, self.notice,
                                    Notification(text, "", "warning", AWAY_NOTICE_SECONDS, markup=False))

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
        inputs_before = self._inputs
        self.app.push_screen(modal, callback=resolved)
        self.app.bell()
        try:
            decision = await answer
        except asyncio.CancelledError:
            self._close(modal)
            if self._inputs == inputs_before:  # not a key touched while it was up: nobody is there
                self.away = True
            self._saved(request)
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
