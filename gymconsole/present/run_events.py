"""The one presenter of run events: a run reads the same live, in the CLI, in ``history show`` and in replay.

:class:`RunPresenter` turns engine events into the manager's words: steps,
tool calls in plain language, acts and their decisions, approvals, waits,
notices and the outcome.  It returns :class:`Line` values made of
``(text, role)`` parts; every text is already sanitised
(:func:`~gymconsole.present.sanitize.visible`).  Roles are semantic
(``tool``, ``ok``, ``error``...): the CLI maps them to Rich styles, the
console to theme colours.  Nothing here imports Rich or Textual.

``detail=True`` (``history show``) adds the raw identifiers, arguments,
results and plans under each line; the other views keep those in their
detail panes and ``--json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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
from gymconsole.engine.outcome import describe_acts
from gymconsole.present.sanitize import deep_visible, visible
from gymconsole.present.tables import aligned_tables
from gymconsole.present.words import (
    RISK_WORDS,
    VIA_WORDS,
    cost,
    decision_words,
    plural,
    status_words,
    tool_words,
)

ARGUMENT_CHARS = 100
ROUTINE_DECISIONS = frozenset({"approved", "dry_run"})

STATUS_ROLE = {"succeeded": "ok", "failed": "error", "interrupted": "error", "cancelled": "warning",
               "awaiting_approval": "warning", "budget_exhausted": "warning", "running": "accent"}
RISK_ROLE = {"safe": "ok", "moderate": "warning", "high": "error"}


@dataclass(frozen=True)
class Line:
    """One line for a person: parts of ``(text, role)``; ``role`` is ``""`` for plain text."""

    parts: tuple[tuple[str, str], ...]

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.parts)


def line(*parts: tuple[str, str] | str) -> Line:
    return Line(tuple((p, "") if isinstance(p, str) else p for p in parts if (p if isinstance(p, str) else p[0])))


def compact(value: Any, limit: int = ARGUMENT_CHARS) -> str:
    """A value (arguments, a result) on one visible line of at most ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(deep_visible(value), ensure_ascii=False, default=str,
                                                          separators=(", ", ": "))
    text = " ".join(visible(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mode_words(mode: str, model: str = "") -> str:
    return "offline playbook (no AI)" if mode == "offline" else f"Claude {visible(model)}".rstrip()


def trigger_words(trigger: str) -> str:
    return {"manual": "started by hand", "schedule": "on schedule", "scheduled": "on schedule"}.get(
        trigger, visible(trigger).replace("_", " "))


class RunPresenter:
    """Presents the events of one run, in order (it remembers the last usage for the final line)."""

    def __init__(self, *, detail: bool = False, title: str = "") -> None:
        self.detail = detail
        self.title = title
        self.last_usage: UsageUpdated | None = None
        self.thinking_live = False
        """Thinking is streaming (its block, when it ends, is then not shown again)."""
        self._call_words: dict[str, str] = {}
        """Each call's words as its start read them (``send final notice``), for its result line."""

    @staticmethod
    def narration(event: TextDelta) -> str:
        """The model's (or playbook's) words, made visible; newlines kept."""
        return visible(event.text, multiline=True)

    def thinking(self, event: ThinkingDelta) -> str:
        """A streamed piece of the model's extended thinking, made visible."""
        self.thinking_live = True
        return visible(event.text, multiline=True)

    def lines(self, event: Event) -> list[Line]:
        """Every non-narration event as zero or more lines."""
        handler = _HANDLERS.get(type(event))
        return handler(self, event) if handler else [line(compact(event.to_dict()))]

    # --- one handler per event type --------------------------------------------------------

    def _started(self, event: RunStarted) -> list[Line]:
        what = visible(self.title or event.workflow)
        return [line(("▶ ", "strong"), (what, "strong"), f" · run #{event.run_id} · {mode_words(event.mode, event.model)}"
                     f" · {trigger_words(event.trigger)}", (" · DRY RUN" if event.dry_run else "", "warning"))]

    def _step(self, event: IterationStarted) -> list[Line]:
        return [line((f"— step {event.iteration}", "muted"))] if event.iteration > 1 else []

    def _tool_started(self, event: ToolCallStarted) -> list[Line]:
        words = self._call_words[event.call_id] = tool_words(event.name, event.input)
        out = [line(("  → ", "tool"), (words, "tool"), "  ",
                    (compact(event.input), "muted"))]
        if self.detail:
            out.append(line((f"      tool {event.name}, risk {event.risk}", "muted")))
        return out

    def _tool_finished(self, event: ToolCallFinished) -> list[Line]:
        mark, role = ("  ✗ ", "error") if event.is_error else ("  ✓ ", "ok")
        decision = event.decision
        shown = f" [{decision_words(decision)}]" if decision else ""
        words = self._call_words.pop(event.call_id, None) or tool_words(event.name)
        out = [line((mark, role), (words, RISK_ROLE.get(event.risk, "")),
                    f": {visible(event.summary)}", (f"{shown} ({event.duration_ms:.0f} ms)", "muted"))]
        if self.detail:
            out.append(line(("      result " + compact(event.result, 2000), "muted")))
        return out

    def _asked(self, event: ApprovalRequested) -> list[Line]:
        risk = RISK_WORDS.get(event.risk, visible(event.risk))
        out = [line(("  ? ", "approval"), (f"approval #{event.approval_id} needed: {visible(event.title)} ({risk})",
                                            "approval"))]
        if self.detail:
            waits = f"waits {event.timeout_seconds:.0f} s; " if event.timeout_seconds else ""
            out.append(line((f"      tool {event.tool}; {waits}plan " + compact(event.plan, 4000), "muted")))
        return out

    def _decided(self, event: ApprovalDecided) -> list[Line]:
        if event.via == "policy" and event.status in ROUTINE_DECISIONS:
            return []  # the tool line's [decision] says it already
        if event.via == "rule":  # the reason names the rule, who made it and its scope
            return [line(("  § ", "approval"), f"{tool_words(event.tool)}: approved by {visible(event.reason)}")]
        who = f" by {visible(event.actor)}" if event.actor else ""
        via = VIA_WORDS.get(event.via, visible(event.via))
        count = f", {plural(event.approved_count, 'target')} approved" if event.status == "partial" else ""
        why = f": {visible(event.reason)}" if event.reason else ""
        number = f"approval #{event.approval_id} " if event.approval_id else ""
        return [line(("  § ", "approval"), f"{number}{tool_words(event.tool)}: {decision_words(event.status)}"
                     f"{who} {via}{count}{why}")]

    def _thought(self, event: ThinkingBlock) -> list[Line]:
        live, self.thinking_live = self.thinking_live, False
        if event.redacted:
            return [line(("  thinking: (redacted by the API)", "thinking"))]
        if live:
            return []  # it was shown as it streamed
        return [line(("  thinking: ", "thinking"), (visible(event.text, multiline=True).strip(), "thinking"))]

    def _usage(self, event: UsageUpdated) -> list[Line]:
        self.last_usage = event
        return []

    def _wait(self, event: RateLimitWait) -> list[Line]:
        return [line(("  ⏸ ", "warning"), f"waiting {event.seconds:.1f} s: {visible(event.reason)}")]

    def _notice(self, event: Notice) -> list[Line]:
        loud = event.level in ("warning", "error")
        return [line(("  ⚠ " if loud else "  ℹ ", "warning" if loud else "muted"),
                     (visible(event.message), "error" if event.level == "error" else ("warning" if loud else "")))]

    def _finished(self, event: RunFinished) -> list[Line]:
        role = STATUS_ROLE.get(event.status, "")
        out = [line(("■ ", role), (status_words(event.status), f"strong {role}".strip()),
                    (f" · {plural(event.iterations, 'step')}", "muted"), (self.usage_words(), "muted"))]
        if event.error:
            out.append(line(("  reason: ", "strong"), visible(event.error)))
        if getattr(event, "acts", None):
            out.append(line(("  ", ""), (describe_acts(event.acts), "strong")))
        if getattr(event, "attention", None):
            out.append(line(("  attention: ", "strong error"), visible(event.attention)))
        if event.summary:
            out.append(line(("  summary: ", "strong"), visible(aligned_tables(event.summary), multiline=True)))
        return out

    def usage_words(self) -> str:
        u = self.last_usage
        if u is None:
            return ""
        words = f" · AI cost {cost(u.cost_usd)}"
        unknown = getattr(u, "unknown_requests", 0)
        if unknown:
            words += f" + {plural(unknown, 'request')} whose usage the API did not report"
        if self.detail:
            words += (f" (tokens in {u.input_tokens:,}, out {u.output_tokens:,}, cache read "
                      f"{u.cache_read_tokens:,}, cache write {u.cache_write_tokens:,})")
        return words


_HANDLERS: dict[type[Event], Any] = {
    RunStarted: RunPresenter._started,
    IterationStarted: RunPresenter._step,
    ToolCallStarted: RunPresenter._tool_started,
    ToolCallFinished: RunPresenter._tool_finished,
    ApprovalRequested: RunPresenter._asked,
    ApprovalDecided: RunPresenter._decided,
    UsageUpdated: RunPresenter._usage,
    RateLimitWait: RunPresenter._wait,
    Notice: RunPresenter._notice,
    RunFinished: RunPresenter._finished,
    TextDelta: lambda self, event: [line(RunPresenter.narration(event))],
    ThinkingDelta: lambda self, event: [],
    ThinkingBlock: RunPresenter._thought,
}
"""Events added later (thinking, say) get a handler here; unknown ones print their fields."""


def register(event_type: type[Event], handler: Any) -> None:
    """Teach the presenter a new event type: ``handler(presenter, event) -> list[Line]``."""
    _HANDLERS[event_type] = handler
