"""How an action plan reads on screen: exactly who, how much, which door, what text.

Shared by the approval modal and the pending-approvals screen.  The words
come from the gate (:func:`gymconsole.plan_text.item_line`), so the console
and the CLI describe a target the same way.  Every value in a plan comes from
the database (names, notes, message text), so it is rendered as plain
:class:`~rich.text.Text`, never as markup.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.strip import Strip
from textual.widgets import OptionList, SelectionList, Static
from textual.widgets.option_list import OptionDoesNotExist
from textual.widgets.selection_list import Selection

from gymconsole.plan_text import item_line, sender_line
from gymconsole.present.sanitize import visible
from gymconsole.present.words import plural
from gymconsole.tools.base import ActionPlan, PlanItem
from gymconsole.tui.format import RISK_STYLE, theme_style

SHOWN_SKIP_REASONS = 6


def as_plan(value: ActionPlan | dict[str, Any] | str) -> ActionPlan:
    """An ActionPlan from the object, its dict, or its JSON text."""
    if isinstance(value, ActionPlan):
        return value
    if isinstance(value, str):
        value = json.loads(value)
    return ActionPlan.from_dict(value)


def item_label(item: PlanItem) -> Text:
    """``Jane Doe (member #42): balance $120.00, 21 days past due, door active -> suspended``."""
    return Text(visible(item_line(item.as_dict())), no_wrap=True, overflow="ellipsis")


def _workflow_title(app: App[Any] | None, workflow: str) -> str:
    config = getattr(app, "config", None)
    return config.title_of(workflow) if config is not None else workflow


def plan_summary(app: App[Any] | None, plan: ActionPlan, *, workflow: str = "", run_id: int | None = None) -> Text:
    """The heading of a plan in the manager's words: what, how many, the risk, the message, what is left out.

    The tool's name and arguments are identifiers, not words: they are in the detail pane below.
    """
    text = Text(no_wrap=False)
    text.append(visible(plan.action), theme_style(app, "foreground", bold=True))
    text.append(f"  ·  {plural(len(plan.items), 'target')}  ·  ")
    text.append(f"{plan.risk.upper()} RISK", theme_style(app, RISK_STYLE.get(plan.risk, "foreground"), bold=True))
    where = [visible(_workflow_title(app, workflow))] if workflow else []
    if run_id is not None:
        where.append(f"run #{run_id}")
    if plan.message:
        copies = plural(len(plan.items), "personalised copy", "personalised copies")
        subject = f", subject “{visible(plan.message['subject'])}”" if plan.message.get("subject") else ""
        where.append(f"by {visible(plan.message.get('channel', '?'))}{subject}: {copies}")
    if where:
        text.append("\n" + "  ·  ".join(where))
    if plan.skipped:
        reasons = Counter(str(entry.get("reason", "")) for entry in plan.skipped)
        shown = "; ".join(f"{count} {reason}" for reason, count in reasons.most_common(SHOWN_SKIP_REASONS))
        text.append(f"\nnot included: {len(plan.skipped)} ({visible(shown)})", theme_style(app, "foreground-muted"))
    return text


def target_detail(app: App[Any] | None, plan: ActionPlan, item: PlanItem | None) -> Text:
    """The highlighted target in full; for a message, the exact text it gets, right below; then the raw call."""
    text = Text(no_wrap=False)
    if item is None:
        return text
    text.append(visible(item_line(item.as_dict())), "bold")
    if plan.message:
        if sender := sender_line(plan.message):
            text.append("\n" + visible(sender), theme_style(app, "foreground-muted"))
        body = item.detail.get("text") or plan.message.get("sample") or ""
        text.append("\n" + visible(body, multiline=True), theme_style(app, "accent"))
    args = {k: v for k, v in plan.args.items() if k not in ("member_ids", "template", "subject") and v}
    shown_args = f" ({visible(', '.join(f'{k}={v}' for k, v in args.items()))})" if args else ""
    text.append(f"\n\ntool {plan.tool}{shown_args}", theme_style(app, "foreground-muted"))
    return text


class PlanItems(SelectionList[str]):
    """The plan's targets, each ticked; untick one (space) to leave it out.

    Ticks read without colour: ``[x]`` ticked, ``[ ]`` not (Textual's own
    button shows the same ``X`` for both and differs only by colour).
    """

    BINDINGS = [Binding("space", "select", "Tick/untick")]

    def render_line(self, y: int) -> Strip:
        line = OptionList.render_line(self, y)
        index = self.scroll_offset.y + y
        try:
            selection = self.get_option_at_index(index)
        except OptionDoesNotExist:
            return line
        ticked = selection.value in self._selected
        base = next(iter(line)).style or self.rich_style
        mark = base + RichStyle(bold=True, meta={"option": index})
        return Strip([Segment("[x] " if ticked else "[ ] ", mark), *line])

    def __init__(self, plan: ActionPlan, *, locked: bool = False, id: str | None = None) -> None:
        super().__init__(*(Selection(item_label(item), item.key, True) for item in plan.items), id=id,
                         classes="plan-items")
        self.plan = plan
        self.locked = locked
        """Every target stays ticked (finishing what was approved before: the targets are not chosen again)."""

    def _toggle_highlighted_selection(self) -> None:  # space, enter and a click all come here
        if not self.locked:
            super()._toggle_highlighted_selection()

    def chosen_keys(self) -> frozenset[str]:
        return frozenset(self.selected)

    def highlighted_item(self) -> PlanItem | None:
        if self.highlighted is None or not self.plan.items:
            return None
        return self.plan.items[self.highlighted]


class PlanView(Vertical):
    """Summary, tickable targets, and the highlighted target in full (with its message text)."""

    def __init__(self, plan: ActionPlan, *, workflow: str = "", run_id: int | None = None, locked: bool = False,
                 id: str | None = None) -> None:
        super().__init__(id=id, classes="plan-view")
        self.plan, self.workflow, self.run_id, self.locked = plan, workflow, run_id, locked

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="plan-summary-scroll"):
            yield Static(plan_summary(self.app, self.plan, workflow=self.workflow, run_id=self.run_id),
                         classes="plan-summary")
        yield Static(classes="plan-ticked")
        yield PlanItems(self.plan, locked=self.locked)
        with VerticalScroll(classes="plan-target-scroll") as scroll:
            scroll.border_title = "highlighted target · message as sent (tab, then ↑↓ to scroll)" \
                if self.plan.message else "highlighted target"
            yield Static(classes="plan-target")

    def on_mount(self) -> None:
        self._preview(self.plan.items[0] if self.plan.items else None)
        self._count()

    @on(SelectionList.SelectedChanged)
    def _count(self) -> None:
        total = len(self.plan.items)
        ticked = len(self.items.selected)
        text = Text(f"{ticked} of {total} ticked", style="bold")
        text.append("  ·  approved before: finishing does exactly these" if self.locked
                    else "  ·  space ticks or unticks the highlighted one", "dim")
        self.query_one(".plan-ticked", Static).update(text)

    @property
    def items(self) -> PlanItems:
        return self.query_one(PlanItems)

    @on(SelectionList.SelectionHighlighted)
    def _highlighted(self) -> None:
        self._preview(self.items.highlighted_item())

    def _preview(self, item: PlanItem | None) -> None:
        for detail in self.query(".plan-target").results(Static):  # none when closed while it was mounting
            detail.update(target_detail(self.app, self.plan, item))
