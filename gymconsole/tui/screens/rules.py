"""Standing approval rules (from the approvals screen, key ``s``): list, add, revoke, see what each approved.

A rule is added in the words of ``gymconsole rules add``, e.g.
``restore_door_access --when "balance <= 0" --per-day 20 --days 30``; the
same checks apply (an acting tool, known fields, a daily limit, expiry within
90 days).  Opened from a pending request, the input starts with its tool.
"""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from gymconsole.tui.format import cell
from gymconsole.tui.screens.dashboard import NAV_BINDINGS
from gymconsole.present.words import plural

if TYPE_CHECKING:
    from gymconsole.engine.rules import Rule
    from gymconsole.tui.app import GymConsoleApp

COLUMNS = ("id", "until", "approved", "rule")
"""Short columns first: at 80 columns the long rule text is the one cut (the pane below shows it whole)."""
EXAMPLE = 'TOOL --when "balance <= 0" --per-day 20 --days 30 (enter adds, esc back)'


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise ValueError(message)


def parse_rule(text: str) -> argparse.Namespace:
    """A rule typed as on the command line; ValueError (one line) if it is not one."""
    parser = _Parser(prog="rule", add_help=False)
    parser.add_argument("tool")
    parser.add_argument("--when", action="append", default=[])
    parser.add_argument("--per-day", type=int, default=None)
    parser.add_argument("--max-amount", type=float, default=None)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--note", default="")
    try:
        return parser.parse_args(shlex.split(text))
    except ValueError as exc:
        raise ValueError(f"{exc}; write e.g. {EXAMPLE.split(' (')[0]}") from None


class RulesScreen(Screen[None]):
    """Active standing rules, with what each approved."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("plus,insert", "add", "Add rule"),
        Binding("minus,delete", "revoke", "Revoke", key_display="-"),  # `x` is Cancel run on Live runs
        *NAV_BINDINGS,
    ]
    DEFAULT_CSS = """
    RulesScreen #rules-table { height: 1fr; border: round $primary; }
    RulesScreen #rules-detail { height: auto; max-height: 10; border: round $primary; padding: 0 1; }
    RulesScreen #rule-input { dock: bottom; }
    """

    app: GymConsoleApp

    class Loaded(Message):
        def __init__(self, rules: list[Rule], note: str = "") -> None:
            super().__init__()
            self.rules, self.note = rules, note

    def __init__(self, tool: str | None = None) -> None:
        super().__init__()
        self.prefill = tool
        self.rules: dict[int, Rule] = {}

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical():
            table: DataTable[Text] = DataTable(id="rules-table", cursor_type="row")
            table.border_title = "standing approval rules"
            yield table
            detail = Static(Text("No rule selected."), id="rules-detail")
            detail.border_title = "what it approved"
            yield detail
        yield Input(placeholder=EXAMPLE, id="rule-input")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#rules-table", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        if self.prefill:
            box = self.query_one("#rule-input", Input)
            box.value = f'{self.prefill} --when "" --per-day 10 --days 30'
            box.focus()
        self.reload()

    def _book(self) -> Any:
        from gymconsole.engine.rules import RuleBook

        services = self.app.services
        return None if services is None else RuleBook(services.db, services.config, services.clock)

    def reload(self, note: str = "") -> None:
        book = self._book()
        if book is None:
            return

        async def fetch() -> None:
            self.post_message(self.Loaded(await book.list(), note))

        self.run_worker(fetch(), group="rules", exclusive=True, exit_on_error=False)

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.rules = {rule.id: rule for rule in message.rules}
        table = self.query_one("#rules-table", DataTable)
        table.clear()
        for rule in message.rules:
            targets = sum(use["item_count"] for use in rule.uses)
            acts = f"{plural(len(rule.uses), 'act')}, {plural(targets, 'target')}"
            table.add_row(cell(f"#{rule.id}"), cell(rule.expires_at[:10]), cell(acts), cell(rule.describe()),
                          key=str(rule.id))
        self._show(self.selected)
        if message.note:
            self.app.say(message.note)

    @property
    def selected(self) -> int | None:
        table = self.query_one("#rules-table", DataTable)
        if not self.rules or table.cursor_row < 0:
            return None
        return int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or 0)

    @on(DataTable.RowHighlighted, "#rules-table")
    def _highlighted(self) -> None:
        self._show(self.selected)

    def _show(self, rule_id: int | None) -> None:
        from gymconsole.engine.rules import use_words

        detail = self.query_one("#rules-detail", Static)
        rule = self.rules.get(rule_id) if rule_id is not None else None
        if rule is None:
            detail.update(Text("No standing rules: press + to add one." if not self.rules else "No rule selected."))
            return
        lines = [f"#{rule.id} {rule.describe()} · by {rule.created_by}" + (f" · {rule.note}" if rule.note else "")]
        lines += [f"{use['at'][:16]} {use_words(use)}: {use['detail']}" for use in rule.uses[:6]]
        if not rule.uses:
            lines.append("It has not approved anything yet.")
        detail.update(Text("\n".join(lines)))

    def action_add(self) -> None:
        self.query_one("#rule-input", Input).focus()

    @on(Input.Submitted, "#rule-input")
    def _submitted(self, event: Input.Submitted) -> None:
        from gymconsole.engine.rules import RuleError

        try:
            spec = parse_rule(event.value)
        except ValueError as exc:
            self.app.say(str(exc), severity="warning")
            return
        book = self._book()
        if book is None:
            return
        actor = self.app.asker.actor

        async def add() -> None:
            try:
                rule = await book.add(spec.tool, [w for w in spec.when if w.strip()], days=spec.days,
                                      max_per_day=spec.per_day, max_amount_per_day=spec.max_amount, note=spec.note,
                                      actor=actor, via="tui")
            except RuleError as exc:
                self.app.say(str(exc), severity="warning")
                return
            self.post_message(self.Loaded(await book.list(), f"Added rule #{rule.id}: {rule.describe()}"))

        event.input.value = ""
        self.run_worker(add(), group="rules-change", exit_on_error=False)

    def action_revoke(self) -> None:
        rule_id = self.selected
        book = self._book()
        if rule_id is None or book is None:
            return
        actor = self.app.asker.actor

        async def revoke() -> None:
            await book.revoke(rule_id, actor=actor, via="tui")
            self.post_message(self.Loaded(await book.list(), f"Revoked rule #{rule_id}."))

        self.run_worker(revoke(), group="rules-change", exit_on_error=False)

