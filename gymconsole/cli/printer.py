"""A live terminal view of a run: an event-bus subscriber that prints with Rich.

Everything shown comes from the model or the database and is untrusted: it
is always wrapped in :class:`rich.text.Text` (never parsed as markup), so a
member called ``O'Brien [/vip]`` prints as written and cannot break the output.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from gymconsole.engine.outcome import describe_acts
from gymconsole.engine.events import (
    ApprovalDecided,
    ApprovalRequested,
    Event,
    IterationStarted,
    Notice,
    RateLimitWait,
    RunFinished,
    RunStarted,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolCallFinished,
    ToolCallStarted,
    UsageUpdated,
)

STATUS_STYLE = {"succeeded": "green", "failed": "red", "cancelled": "yellow", "awaiting_approval": "yellow",
                "budget_exhausted": "yellow", "interrupted": "red", "truncated": "red", "context_exceeded": "red",
                "rate_limited": "yellow"}
RISK_STYLE = {"safe": "green", "moderate": "yellow", "high": "red"}
INPUT_CHARS = 120


def _compact(value: Any, limit: int = INPUT_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class LivePrinter:
    """Prints a run as it happens: narration streamed, one line per tool call, decision, wait and notice."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._mid_line = False
        self._thinking = False
        self.last_usage: UsageUpdated | None = None

    def _line(self, *parts: tuple[str, str] | str) -> None:
        if self._mid_line:
            self.console.print()
            self._mid_line = False
        self.console.print(Text.assemble(*parts), soft_wrap=True, highlight=False)

    def __call__(self, event: Event) -> None:
        if isinstance(event, ThinkingDelta):
            if not self._thinking:
                self._line(("  thinking: ", "dim italic"))
                self._mid_line, self._thinking = True, True
            self.console.print(Text(event.text, style="dim italic"), end="", soft_wrap=True, highlight=False)
        elif isinstance(event, ThinkingBlock):
            if event.redacted:
                self._line(("  thinking: (redacted by the API)", "dim italic"))
            elif not self._thinking:  # a stored run: the whole block
                self._line(("  thinking: ", "dim italic"), (event.text, "dim italic"))
            self._thinking = False
        elif isinstance(event, TextDelta):
            self.console.print(Text(event.text), end="", soft_wrap=True, highlight=False)
            self._mid_line = not event.text.endswith("\n")
        elif isinstance(event, RunStarted):
            mode = "offline playbook (no AI)" if event.mode == "offline" else f"Claude {event.model}".rstrip()
            self._line(("▶ ", "bold"), (event.workflow, "bold"), f" · run #{event.run_id} · {mode} · {event.trigger}",
                       (" · DRY RUN" if event.dry_run else "", "bold yellow"))
        elif isinstance(event, IterationStarted):
            if event.iteration > 1:
                self._line((f"— step {event.iteration}", "dim"))
        elif isinstance(event, ToolCallStarted):
            self._line(("  → ", "cyan"), (event.name, "cyan"), " ", (_compact(event.input), "dim"))
        elif isinstance(event, ToolCallFinished):
            mark, style = ("✗", "red") if event.is_error else ("✓", "green")
            decision = f" [{event.decision}]" if event.decision else ""
            self._line((f"  {mark} ", style), (event.name, RISK_STYLE.get(event.risk, "")), f": {event.summary}",
                       (f"{decision} ({event.duration_ms:.0f} ms)", "dim"))
        elif isinstance(event, ApprovalRequested):
            self._line(("  ? ", "bold yellow"), f"approval #{event.approval_id} needed: {event.title} (risk {event.risk})")
        elif isinstance(event, ApprovalDecided):
            who = f" by {event.actor} via {event.via}" if event.actor else ""
            reason = f": {event.reason}" if event.reason else ""
            self._line(("  § ", "yellow"), f"{event.tool} {event.status}{who}{reason}")
        elif isinstance(event, RateLimitWait):
            self._line(("  … ", "yellow"), f"waiting {event.seconds:.1f} s: {event.reason}")
        elif isinstance(event, Notice):
            self._line((f"  ! {event.message}", "yellow" if event.level != "info" else ""))
        elif isinstance(event, UsageUpdated):
            self.last_usage = event
        elif isinstance(event, RunFinished):
            self._finished(event)

    def _finished(self, event: RunFinished) -> None:
        style = STATUS_STYLE.get(event.status, "")
        self._line(("■ ", style), (event.status, f"bold {style}"),
                   (f" · {event.iterations} step{'s' if event.iterations != 1 else ''}", "dim"),
                   (self._usage_text(), "dim"))
        if event.error:
            self._line(("  reason: ", "bold"), event.error)
        if event.acts:
            self._line(("  ", ""), (describe_acts(event.acts), "bold"))
        if event.attention:
            self._line(("  attention: ", "bold red"), event.attention)
        if event.summary:
            self._line(("  summary: ", "bold"), event.summary)

    def _usage_text(self) -> str:
        u = self.last_usage
        if u is None:
            return ""
        unknown = f" + {u.unknown_requests} request(s) whose usage the API did not report" if u.unknown_requests else ""
        return (f" · tokens in {u.input_tokens:,} out {u.output_tokens:,} cache read {u.cache_read_tokens:,} "
                f"write {u.cache_write_tokens:,} · ${u.cost_usd:.4f}{unknown}")
