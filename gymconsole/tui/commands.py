"""The command palette (ctrl+p): every console action, and "Run X now" per workflow."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from gymconsole.tui.app import GymConsoleApp

Command = tuple[str, Callable[[], object], str]


class ConsoleCommands(Provider):
    """Console actions for the command palette."""

    _saved: list[dict[str, object]] = []

    def _commands(self) -> Iterator[Command]:
        app = cast("GymConsoleApp", self.app)
        for name, workflow in app.config.workflows.items():
            yield f"Run {workflow.title} now", partial(app.action_run_workflow, name), f"start {name} immediately"
        for name, workflow in app.config.workflows.items():
            yield (f"Pause or resume {workflow.title}", partial(app.action_toggle_pause, name),
                   f"stop or restart {name}'s schedule")
        yield "Pause or resume all workflows", app.action_pause_all, "the whole scheduler"
        yield "Toggle dry run", app.action_toggle_dry_run, "acting tools only report what they would do"
        yield "Open the dashboard", app.action_open_dashboard, "workflows, schedules, today's totals"
        yield "Open live runs", app.action_open_live, "stream the runs of this session"
        yield "Open run history", app.action_open_history, "browse, filter and replay past runs"
        yield "Open pending approvals", app.action_open_approvals, "decide requests that timed out"
        yield "Open configuration", app.action_open_config, "effective settings and where they came from"
        yield "Open imports", app.action_open_import, "each table's data age; preview and import an export"
        yield "Ask the assistant", app.action_ask, "a question or a one-off task in plain words (? or /)"
        yield ("Open standing approval rules", app.action_open_rules,
               "approvals decided ahead: list, add, revoke (also s on pending approvals)")
        for saved in self._saved:
            yield (f"Saved question: {saved['name']}", partial(app.action_saved_question, saved["name"]),
                   saved["question"][:80])
        yield "Quit gymconsole", app.action_quit, "leave the console"

    async def startup(self) -> None:
        """The saved questions, read once each time the palette opens."""
        from gymconsole.engine.saved import SavedQuestions

        app = cast("GymConsoleApp", self.app)
        self._saved: list[dict[str, object]] = []
        if app.services is not None:
            self._saved = await SavedQuestions(app.services.db, app.services.clock).list()

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
