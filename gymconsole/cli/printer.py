"""A live terminal view of a run: an event-bus subscriber printing the presenter's lines with Rich.

The words come from :mod:`gymconsole.present.run_events` (the same as the
console and ``history show``); everything is already sanitised and is
wrapped in :class:`rich.text.Text` (never parsed as markup).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from gymconsole.engine.events import Event, RunStarted, TextDelta, ThinkingDelta, UsageUpdated
from gymconsole.present.run_events import RunPresenter
from gymconsole.present.terminal import rich_line

STATUS_STYLE = {"succeeded": "green", "failed": "red", "cancelled": "yellow", "awaiting_approval": "yellow",
                "budget_exhausted": "yellow", "interrupted": "red", "truncated": "red", "context_exceeded": "red",
                "rate_limited": "yellow"}


class LivePrinter:
    """Prints a run as it happens: narration streamed, then one line per tool call, decision, wait and notice."""

    def __init__(self, console: Console, *, titles: dict[str, str] | None = None) -> None:
        self.console = console
        self.titles = titles or {}
        self.presenter = RunPresenter()
        self._mid_line = False

    @property
    def last_usage(self) -> UsageUpdated | None:
        return self.presenter.last_usage

    def __call__(self, event: Event) -> None:
        if isinstance(event, ThinkingDelta):
            if not self.presenter.thinking_live:
                self._break()
                self.console.print(Text("  thinking: ", style="dim italic"), end="")
            text = self.presenter.thinking(event)
            self.console.print(Text(text, style="dim italic"), end="", soft_wrap=True, highlight=False)
            self._mid_line = True
            return
        if isinstance(event, TextDelta):
            text = self.presenter.narration(event)
            self.console.print(Text(text), end="", soft_wrap=True, highlight=False)
            self._mid_line = not text.endswith("\n")
            return
        if isinstance(event, RunStarted):
            self.presenter.title = self.titles.get(event.workflow, "")
        for line in self.presenter.lines(event):
            self._break()
            self.console.print(rich_line(line), soft_wrap=True, highlight=False)

    def _break(self) -> None:
        if self._mid_line:
            self.console.print()
            self._mid_line = False
