"""The approval modal: exactly what will happen, and the manager's decision.

``y`` approves the ticked targets (untick rows with space first to leave
some out), ``n`` asks for a reason and denies.  The gate owns the timeout: it
cancels the request when time runs out (the modal then closes, and the gate
records the request as pending); the countdown here only shows it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from gymconsole.clock import Clock
from gymconsole.tools.registry import Decision
from gymconsole.tui.format import RISK_STYLE, duration, parse_time, theme_style
from gymconsole.tui.screens.dashboard import MODAL_NAV_BINDINGS
from gymconsole.tui.widgets.plan_view import PlanItems, PlanView, as_plan
from gymconsole.tui.screens import SCREENS_CSS

if TYPE_CHECKING:
    from gymconsole.engine.gate import ApprovalRequest


class ApprovalModal(ModalScreen[Decision | None]):
    """Asks the manager about one action plan."""

    CSS_PATH = SCREENS_CSS

    BINDINGS = [
        Binding("y", "approve", "Approve ticked"),
        Binding("n", "deny", "Deny…"),
        Binding("space", "toggle_row", "Tick/untick", show=False),
        Binding("tab", "app.focus_next", "Targets/message"),
        Binding("escape", "cancel_reason", "Back", show=False),
        *MODAL_NAV_BINDINGS,
    ]

    def __init__(self, request: ApprovalRequest, *, clock: Clock, actor: str, queued: int = 0) -> None:
        super().__init__(classes="approval-modal")
        self.request = request
        self.plan = as_plan(request.plan)
        self.clock = clock
        self.actor = actor
        self.queued = queued
        requested = parse_time(request.requested_at) or clock.now()
        self.deadline = requested + timedelta(seconds=request.timeout_seconds)

    def compose(self) -> ComposeResult:
        request = self.request
        with Vertical(id="approval-dialog") as dialog:
            workflow = self.app.config.workflows.get(request.workflow) if hasattr(self.app, "config") else None
            dialog.border_title = f"Approval needed · {workflow.title if workflow else request.workflow}"
            heading = Text(request.title or self.plan.title, style="bold")
            heading.append(f"   request #{request.approval_id}", "dim")
            yield Static(heading, id="approval-title")
            yield PlanView(self.plan, workflow=request.workflow, run_id=request.run_id, id="approval-plan")
            yield Static(id="approval-countdown")
            yield Input(placeholder="Why deny? Type it, enter denies, escape goes back", id="deny-reason",
                        compact=True)
            yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#deny-reason").display = False
        self.query_one(PlanItems).focus()
        self._tick()
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        remaining = (self.deadline - self.clock.now()).total_seconds()
        text = Text()
        risk = self.plan.risk
        text.append(f" {risk.upper()} RISK ", theme_style(self.app, RISK_STYLE.get(risk, "foreground"), bold=True))
        if remaining > 0 and self.query_one("#deny-reason").display:
            text.append(f"  {duration(remaining)} left · enter denies · escape goes back")
        elif remaining > 0:
            text.append(f"  decide within {duration(remaining)}; then it waits in Pending approvals")
        else:
            text.append("  time is up: saving it as pending…", theme_style(self.app, "warning"))
        if self.queued:
            text.append(f"   ({self.queued} more waiting)", theme_style(self.app, "warning"))
        self.query_one("#approval-countdown", Static).update(text)

    def _decision(self, status: str, *, reason: str = "", keys: frozenset[str] | None = None) -> Decision:
        return Decision(status=status, via="tui", actor=self.actor, reason=reason,  # type: ignore[arg-type]
                        approved_keys=keys, approval_id=self.request.approval_id)

    def action_approve(self) -> None:
        if self.query_one("#deny-reason").display:
            return
        chosen = self.query_one(PlanItems).chosen_keys()
        if not chosen:
            self.notify("Nothing is ticked: tick at least one target, or deny with n.", severity="warning")
            return
        if len(chosen) == len(self.plan.items):
            self.dismiss(self._decision("approved"))
        else:
            self.dismiss(self._decision("partial", keys=chosen,
                                        reason=f"{len(chosen)} of {len(self.plan.items)} approved"))

    def action_toggle_row(self) -> None:
        items = self.query_one(PlanItems)
        if items.highlighted is not None:
            items.toggle(items.get_option_at_index(items.highlighted).value)

    def action_deny(self) -> None:
        reason = self.query_one("#deny-reason", Input)
        reason.display = True
        reason.focus()
        self._tick()

    def action_cancel_reason(self) -> None:
        reason = self.query_one("#deny-reason", Input)
        reason.display = False
        self.query_one(PlanItems).focus()
        self._tick()

    @on(Input.Submitted, "#deny-reason")
    def _denied(self, event: Input.Submitted) -> None:
        self.dismiss(self._decision("denied", reason=event.value.strip() or "denied by the manager"))
