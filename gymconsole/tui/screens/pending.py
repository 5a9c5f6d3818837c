"""Pending approvals: requests that timed out waiting for a person, decided later.

Approving one carries out its stored plan (through ``gate.decide_pending``,
which re-checks every target against today's data); untick targets with space
to approve only some.  Denying asks for a reason.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Static

from gymconsole.engine import approvals as states
from gymconsole.engine.gate import ApprovalError, ShownPlan
from gymconsole.tui.format import RISK_STYLE, cell, compact, one_line, styled, when
from gymconsole.tui.screens.dashboard import NAV_BINDINGS
from gymconsole.tui.widgets.key_footer import KeyFooter
from gymconsole.tui.widgets.plan_view import PlanItems, PlanView
from gymconsole.tui.screens import SCREENS_CSS

if TYPE_CHECKING:
    from gymconsole.tui.app import GymConsoleApp

COLUMNS = ("id", "requested", "workflow", "risk", "status", "what")
STATUS_NOTE = {
    "asking": "A person is being asked about this one right now (in the modal or another console); "
              "`gymconsole approvals release {id}` takes it back if that console is stuck.",
    "released": "Taken back from a console that stopped asking: decide it here.",
    "interrupted": "Approved, but carrying it out was interrupted: y finishes exactly the targets approved then "
                   "(done acts are not repeated); `gymconsole approvals release {id}` to decide afresh.",
}
LISTED = (states.ASKING, *states.DECIDABLE, states.INTERRUPTED)
"""The shown states a listed request can be decided (or finished) in; any other means it was decided elsewhere."""


class PendingScreen(Screen[None]):
    """Decide the requests nobody answered in time."""

    CSS_PATH = SCREENS_CSS

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("y", "approve", "Approve ticked"),
        Binding("n", "deny", "Deny…"),
        Binding("tab", "app.focus_next", "Targets"),
        Binding("f5", "reload", "Reload", show=False),  # the README lists it; the footer keeps room for Quit
        Binding("s", "rules", "Rules"),
        *NAV_BINDINGS,
    ]

    app: GymConsoleApp

    class Loaded(Message):
        def __init__(self, rows: list[dict[str, Any]]) -> None:
            super().__init__()
            self.rows = rows

    class PlanRead(Message):
        def __init__(self, approval_id: int, shown: ShownPlan | None, error: str = "", damaged: bool = False) -> None:
            super().__init__()
            self.approval_id, self.shown, self.error, self.damaged = approval_id, shown, error, damaged

    class Decided(Message):
        def __init__(self, approval_id: int, approved: bool, outcome: dict[str, Any]) -> None:
            super().__init__()
            self.approval_id, self.approved, self.outcome = approval_id, approved, outcome

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[int, dict[str, Any]] = {}
        """The listed requests' rows, without their plans (``gate.pending_list``)."""
        self.plans: dict[int, ShownPlan] = {}
        """The plans read so far (with the state read with each), each when its request was shown: what is
        approved is what was read and shown."""
        self.busy = False
        self.shown: int | None = None
        """The request whose plan is on screen (approving another would approve what nobody saw)."""
        self._reading: int | None = None
        """The request whose plan is being read (chosen twice meanwhile, it is read once)."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical(id="pending-body"):
            table: DataTable[Text] = DataTable(id="pending-table", cursor_type="row", zebra_stripes=True)
            table.border_title = "pending approvals"
            yield table
            with Vertical(id="pending-detail") as detail:
                detail.border_title = "what it will do"
                yield Static(Text("Nothing selected."), id="pending-plan")
        yield Input(placeholder="Why deny? Type it, enter denies, escape goes back", id="pending-reason",
                    compact=True)
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#pending-table", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        self.query_one("#pending-reason").display = False
        table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        services = self.app.services
        if services is None:
            self.app.when_ready(self.action_reload)
            return
        gate = services.gate

        async def fetch() -> None:
            self.post_message(self.Loaded(list(await gate.pending_list())))

        self.app.run_worker(fetch(), group="pending", exclusive=True, exit_on_error=False, name="pending approvals")

    @on(Loaded)
    async def _loaded(self, message: Loaded) -> None:
        table = self.query_one("#pending-table", DataTable)
        table.clear()
        self.rows = {int(row["id"]): row for row in message.rows}
        self.plans, self._reading = {}, None
        zone = self.app.config.scheduler.timezone
        now = self.app.clock.now()
        for approval_id, row in self.rows.items():
            table.add_row(cell(approval_id), cell(when(row.get("requested_at"), zone, now)), cell(row.get("workflow")),
                          styled(self.app, row.get("risk", ""), RISK_STYLE), cell(row.get("status", "")),
                          cell(one_line(row.get("title") or compact(_json(row.get("plan"))), 70)), key=str(approval_id))
        await self._show(self.selected)

    @property
    def selected(self) -> int | None:
        table = self.query_one("#pending-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    @on(DataTable.RowHighlighted, "#pending-table")
    async def _highlighted(self) -> None:
        await self._show(self.selected)

    async def _show(self, approval_id: int | None) -> None:
        detail = self.query_one("#pending-detail")
        self.shown = None
        await detail.query(PlanView).remove()
        placeholder = self.query_one("#pending-plan", Static)
        shown = self.plans.get(approval_id) if approval_id is not None else None
        if approval_id is None or approval_id not in self.rows or shown is None:
            if approval_id in self.rows and approval_id != self._reading:
                self._reading = approval_id
                self._read_plan(approval_id)  # shown when read (PlanRead), if still chosen
            placeholder.update(Text("No approvals are pending." if not self.rows else "Reading its plan…"
                                    if approval_id in self.rows else "Nothing selected."))
            placeholder.display = True
            return
        if shown.status not in LISTED:
            placeholder.update(Text(f"It is {shown.status.replace('_', ' ')} now (decided elsewhere meanwhile): "
                                    "F5 shows the list as it is now."))
            placeholder.display = True
            return
        placeholder.display = False
        if shown.status in STATUS_NOTE:
            placeholder.update(Text(STATUS_NOTE[shown.status].format(id=approval_id)))
            placeholder.display = True
        row = self.rows[approval_id]
        await detail.mount(PlanView(shown.plan, workflow=row.get("workflow", ""), run_id=row.get("run_id"),
                                    locked=shown.finishing))
        self.shown = approval_id

    def _read_plan(self, approval_id: int) -> None:
        """Read one listed request's stored plan in a worker; it comes back as :class:`PlanRead`."""
        services = self.app.services
        if services is None:
            return
        gate = services.gate

        async def read() -> None:
            try:
                shown = await gate.pending_plan(approval_id)
            except ApprovalError as exc:  # a damaged row: said, the rest of the list stands
                self.post_message(self.PlanRead(approval_id, None, str(exc), damaged=True))
                return
            except Exception as exc:  # e.g. the database is locked: read again when chosen again
                self.post_message(self.PlanRead(approval_id, None, f"{type(exc).__name__}: {exc}"))
                raise  # reported (and logged) where every failed worker is
            self.post_message(self.PlanRead(approval_id, shown))

        self.app.run_worker(read(), group="pending-plan", exclusive=True, exit_on_error=False,
                            name=f"approval #{approval_id}'s plan")

    @on(PlanRead)
    async def _plan_read(self, message: PlanRead) -> None:
        approval_id, shown = message.approval_id, message.shown
        if approval_id == self._reading:
            self._reading = None
        if message.damaged:
            self.notify(message.error, severity="error", markup=False)
        if shown is None or approval_id not in self.rows:
            if approval_id == self.selected:
                self.query_one("#pending-plan", Static).update(Text(
                    "Its plan cannot be read: nothing to approve." if message.damaged else
                    f"Its plan could not be read just now ({message.error}): F5 or choosing it again retries."
                    if message.error else "It is gone (decided elsewhere meanwhile): F5 shows the list as it is now."))
            return
        self.plans[approval_id] = shown
        if self.rows[approval_id].get("status") != shown.status:  # changed since listed: the row says so too
            self.rows[approval_id]["status"] = shown.status
            table = self.query_one("#pending-table", DataTable)
            table.update_cell(str(approval_id), "status", cell(shown.status))
        if approval_id == self.selected:
            await self._show(approval_id)

    def action_approve(self) -> None:
        approval_id = self.selected
        lists = self.query(PlanItems)
        if approval_id is None or self.busy or approval_id != self.shown or not lists:
            return
        keys = lists.first().chosen_keys()  # exactly what is ticked on screen (the gate reads all of them as "all")
        if not keys:
            self.notify("Nothing is ticked: tick at least one target, or deny with n.", severity="warning")
            return
        self._decide(approval_id, True, keys=keys)

    def action_deny(self) -> None:
        if self.selected is None:
            return
        reason = self.query_one("#pending-reason", Input)
        reason.display = True
        reason.focus()

    @on(Input.Submitted, "#pending-reason")
    def _denied(self, event: Input.Submitted) -> None:
        event.input.display = False
        event.input.value = ""
        self.query_one("#pending-table").focus()
        if self.selected is not None:
            self._decide(self.selected, False, reason=event.value.strip() or "denied by the manager")

    def _decide(self, approval_id: int, approve: bool, *, reason: str = "", keys: frozenset[str] | None = None) -> None:
        services = self.app.services
        if services is None:
            return
        gate, actor = services.gate, self.app.asker.actor
        read = self.plans.get(approval_id)
        seen = read.status if read is not None else self.rows.get(approval_id, {}).get("status")
        dry_run = bool(services.runner.dry_run)  # the console's dry-run toggle holds here too
        self.busy = True

        async def decide() -> None:
            try:
                outcome = await gate.decide_pending(approval_id, approve, actor=actor, via="tui", reason=reason,
                                                   keys=sorted(keys) if keys is not None else None, dry_run=dry_run,
                                                   seen=seen)
            except ApprovalError as exc:
                self.app.say(str(exc), severity="error")
                self.action_reload()  # show it as it is now
                return
            finally:
                self.busy = False
            self.post_message(self.Decided(approval_id, approve, dict(outcome or {})))

        self.app.run_worker(decide(), group="decide", exit_on_error=False, name=f"decide approval #{approval_id}")

    @on(Decided)
    def _decided(self, message: Decided) -> None:
        verb = "approved" if message.approved else "denied"
        if message.outcome.get("status") == "dry_run":
            verb = "not decided (dry run: nothing changed); it would be approved"
        detail = message.outcome.get("summary") or message.outcome.get("reason") or ""
        self.app.say(f"Approval #{message.approval_id} {verb}" + (f": {one_line(detail, 160)}" if detail else "."))
        self.app.request_state()
        self.action_reload()

    def action_rules(self) -> None:
        """Standing approval rules; from a selected request, a new rule starts with its tool."""
        from gymconsole.tui.screens.rules import RulesScreen

        row = self.rows.get(self.selected) if self.selected is not None else None
        self.app.push_screen(RulesScreen(row["tool"] if row else None))

    def action_back(self) -> None:
        reason = self.query_one("#pending-reason", Input)
        if reason.display:
            reason.display = False
            self.query_one("#pending-table").focus()
        else:
            self.app.pop_screen()


def _json(text: str | None) -> Any:
    """A plan's JSON text as its value, for the one-line description of a request stored without a title."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text
