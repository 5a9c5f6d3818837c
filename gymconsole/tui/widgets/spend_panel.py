"""Two lines on the dashboard: Claude spend today and this month against the limits, with a daily-cost
Sparkline, and each workflow's cost per run and per month at its schedule (from its history)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from gymconsole.tui.format import theme_style

if TYPE_CHECKING:
    from gymconsole.engine.spend import SpendReport
    from gymconsole.tui.app import GymConsoleApp


def _against(spent: float, limit: float | None) -> str:
    return f"${spent:.2f}" + (f" of ${limit:.2f}" if limit is not None else "")


def spend_text(app: GymConsoleApp, report: SpendReport) -> Text:
    """``Claude spend: today $0.42 of $5.00 · month $3.10 of $50.00`` (limits reached in the error colour)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("Claude spend: ", theme_style(app, "foreground-muted"))
    for label, spent, limit in (("today", report.today, report.daily_limit),
                                ("month", report.month, report.monthly_limit)):
        reached = limit is not None and spent >= limit
        style = theme_style(app, "error", bold=True) if reached else theme_style(app, "foreground")
        text.append(f"{label} {_against(spent, limit)}", style)
        text.append(" · " if label == "today" else "", theme_style(app, "foreground-muted"))
    return text


def workflow_costs_text(app: GymConsoleApp, report: SpendReport) -> Text:
    """``per run (month): door_access $0.007 ($6.30) · ...`` for workflows with Claude runs in their history."""
    text = Text(no_wrap=True, overflow="ellipsis")
    muted = theme_style(app, "foreground-muted")
    text.append("per run (month): ", muted)
    shown = [(name, cost) for name, cost in report.per_run.items() if cost is not None]
    if not shown:
        text.append("no Claude runs yet", muted)
    for index, (name, cost) in enumerate(shown):
        monthly = report.per_month.get(name)
        text.append(("· " if index else "") + f"{name} ${cost:.3f}" + (f" (${monthly:.2f}) " if monthly else " "))
    return text


class SpendPanel(Vertical):
    """Reloaded with the console state (after runs, and every 30 s)."""

    class Loaded(Message):
        def __init__(self, report: SpendReport) -> None:
            super().__init__()
            self.report = report

    DEFAULT_CSS = """
    SpendPanel { height: 2; padding: 0 1; }
    SpendPanel Horizontal { height: 1; }
    SpendPanel .spend-line { width: 1fr; height: 1; }
    SpendPanel Sparkline { width: 30; height: 1; }
    SpendPanel .workflow-costs { height: 1; }
    """

    app: GymConsoleApp
    report: SpendReport | None = None
    """The latest report (the dashboard's detail pane reads the selected workflow's costs from it)."""

    def compose(self) -> ComposeResult:
        """Nothing until the first report (after the console's first frame): two blank lines, as its parts would
        draw them empty, without styling and drawing four widgets (and loading Sparkline) before the first frame."""
        return iter(())

    def _parts(self) -> list[Widget]:
        from textual.widgets import Sparkline

        return [Horizontal(Static(classes="spend-line"), Sparkline([], summary_function=max)),
                Static(classes="workflow-costs")]

    def on_mount(self) -> None:
        self.reload()  # and again on each new snapshot the dashboard shows (DashboardScreen._state_changed)

    def reload(self) -> None:
        services = self.app.services
        if services is None:
            return

        async def load() -> None:
            from gymconsole.engine.spend import spend_report

            self.post_message(self.Loaded(await spend_report(services.db, self.app.config, self.app.clock)))

        self.run_worker(load(), name="spend", group="spend", exclusive=True, exit_on_error=False)

    @on(Loaded)
    async def _loaded(self, message: Loaded) -> None:
        from textual.widgets import Sparkline  # loaded with the first report

        if not self.children:
            await self.mount_all(self._parts())
        report = self.report = message.report
        self.query_one(".spend-line", Static).update(spend_text(self.app, report))
        self.query_one(Sparkline).data = report.daily
        self.query_one(".workflow-costs", Static).update(workflow_costs_text(self.app, report))
