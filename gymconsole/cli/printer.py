"""A live terminal view of a run: an event-bus subscriber printing the presenter's lines with Rich.

The words come from :mod:`gymconsole.present.run_events` (the same as the
console and ``history show``); everything is already sanitised and is
wrapped in :class:`rich.text.Text` (never parsed as markup).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from gymconsole.engine.events import Event, RunStarted, TextDelta, UsageUpdated
from gymconsole.present.run_events import RunPresenter
from gymconsole.present.terminal import rich_line

STATUS_STYLE = {"succeeded": "green", "failed": "red", "cancelled": "yellow", "awaiting_approval": "yellow",
                "budget_exhausted": "yellow", "interrupted": "red"}


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
        if isinstance(event, TextDelta):
            text = self.presenter.narration(event)
            self.console.print(Text(text), end="", soft_wrap=True, highlight=False)
            self._mid_line = not text.endswith("\n")
            return
        if isinstance(event, RunStarted):
            self.presenter.title = self.titles.get(event.workflow, "")
        for line in self.presenter.lines(event):
            if self._mid_line:
                self.console.print()
                self._mid_line = False
            self.console.print(rich_line(line), soft_wrap=True, highlight=False)
