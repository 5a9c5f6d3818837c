"""What a tool is: a name, a description for the model, its arguments, a risk level.

Each tool's arguments are a TypedDict in :mod:`gymconsole.tools.args`, named
by ``Tool.args``: the JSON schema sent to the model and the validation of what
the model sends back both come from it (see :mod:`gymconsole.tools.schemas`);
handlers get the validated arguments as a plain dict.  Read tools have a
``handler``; acting tools have a ``plan`` (what would happen, resolved from the
database, guard rails applied) and an ``execute`` (do the planned items through
the effects ledger, re-checking each against current data).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from gymconsole.clock import Clock, iso
from gymconsole.db import Database
from gymconsole.tools import schemas

if TYPE_CHECKING:  # a tool reads the configuration it is given; importing it is the command's business
    from gymconsole.config import Config, Risk

MAX_RESULT_BYTES = 4096


@dataclass(frozen=True)
class ToolContext:
    """What a tool may use: the database, the rules, the clock and who is asking."""

    db: Database
    config: Config
    clock: Clock
    workflow: str = "manual"
    run_id: int | None = None
    dry_run: bool = False

    def now(self) -> datetime:
        return self.clock.now()

    def now_iso(self) -> str:
        return iso(self.clock.now())

    def local_now(self) -> datetime:
        return self.clock.now().astimezone(ZoneInfo(self.config.scheduler.timezone))

    def today(self) -> str:
        """The gym's local date, the period of daily acts."""
        return self.local_now().date().isoformat()

    def days_ago(self, days: int) -> str:
        """The local date ``days`` before today, as stored dates compare."""
        return (self.local_now().date() - timedelta(days=days)).isoformat()

    def days_ago_iso(self, days: int) -> str:
        return iso(self.clock.now() - timedelta(days=days))


@dataclass
class PlanItem:
    """One act on one target, as it will happen."""

    target_id: int
    label: str
    key: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.target_id, "name": self.label, "key": self.key, **self.detail}


@dataclass
class ActionPlan:
    """Exactly what an acting tool call would do, resolved from the database."""

    tool: str
    action: str
    risk: Risk
    items: list[PlanItem]
    skipped: list[dict[str, Any]]
    args: dict[str, Any]
    message: dict[str, str] | None = None

    @property
    def title(self) -> str:
        return f"{self.action}: {len(self.items)} " + ("target" if len(self.items) == 1 else "targets")

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "action": self.action,
            "risk": self.risk,
            "items": [item.as_dict() for item in self.items],
            "skipped": self.skipped,
            "args": self.args,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionPlan:
        items = [
            PlanItem(
                target_id=item["id"],
                label=item["name"],
                key=item["key"],
                detail={k: v for k, v in item.items() if k not in {"id", "name", "key"}},
            )
            for item in data["items"]
        ]
        return cls(data["tool"], data["action"], data["risk"], items, data["skipped"], data["args"], data.get("message"))


ReadHandler = Callable[[ToolContext, Any], Awaitable[dict[str, Any]]]
PlanHandler = Callable[[ToolContext, Any], Awaitable[ActionPlan]]
ExecuteHandler = Callable[[ToolContext, ActionPlan], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Tool:
    """A tool the model may call."""

    name: str
    description: str
    args: str
    """The name of its arguments' TypedDict in :mod:`gymconsole.tools.args`."""
    risk: Risk
    kind: Literal["read", "act"]
    handler: ReadHandler | None = None
    plan: PlanHandler | None = None
    execute: ExecuteHandler | None = None

    def parse_args(self, raw: Any) -> dict[str, Any]:
        """The arguments checked against its schema, defaults filled in; InvalidArguments (one line) if not."""
        return schemas.validate(self.args, raw)

    def input_schema(self) -> dict[str, Any]:
        """The JSON schema the model sees."""
        return schemas.input_schema(self.args)

    def definition(self) -> dict[str, Any]:
        """The tool definition as the Messages API takes it."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema()}


def dollars(cents: int | None) -> float:
    return round((cents or 0) / 100, 2)


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _size(value: Any) -> int:
    return len(compact_json(value).encode())


def bound_result(result: dict[str, Any], limit: int = MAX_RESULT_BYTES) -> dict[str, Any]:
    """Keep a tool result under ``limit`` bytes of JSON, whatever a tool returned (see :func:`bound_json`)."""
    return bound_json(result, limit)[0]


def bound_json(result: dict[str, Any], limit: int = MAX_RESULT_BYTES) -> tuple[dict[str, Any], str]:
    """A tool result held under ``limit`` bytes of JSON, with that JSON: the text measured is the text sent.

    Long strings (and keys) are cut first, then list samples are shortened
    from the end, the longest list first, several items at a time (so a huge
    result costs a few serialisations, not one per item); the result says it
    was truncated so the model knows to narrow its question.
    """
    text = compact_json(result)
    if len(text) <= limit and len(text.encode()) <= limit:
        return result, text
    budget = limit - len(',"truncated":true')
    trimmed = _cut_strings(result, 160)
    size = _size(trimmed)
    while size > budget:
        longest = _longest_list(trimmed)
        if not longest:
            bounded = _too_large(result, limit)
            return bounded, compact_json(bounded)
        excess = size - budget
        while longest and excess > 0:
            excess -= _size(longest.pop()) + 1
        size = _size(trimmed)
    trimmed["truncated"] = True
    return trimmed, compact_json(trimmed)


def _too_large(result: dict[str, Any], limit: int) -> dict[str, Any]:
    """The last resort: say so, with as many of the result's (cut) keys as fit."""
    out: dict[str, Any] = {"error": "result too large", "keys": [str(key)[:40] for key in list(result)[:20]],
                           "truncated": True}
    while out["keys"] and _size(out) > limit:
        out["keys"].pop()
    return out


def _cut_strings(node: Any, size: int) -> Any:
    if isinstance(node, str):
        return node if len(node) <= size else node[: size - 1] + "…"
    if isinstance(node, dict):
        return {_cut_strings(key, size): _cut_strings(value, size) for key, value in node.items()}
    if isinstance(node, list):
        return [_cut_strings(value, size) for value in node]
    return node


def _longest_list(node: Any) -> list[Any] | None:
    best: list[Any] | None = None
    stack = [node]
    while stack:
        current = stack.pop()
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else []
        if isinstance(current, list) and (best is None or len(current) > len(best)):
            best = current
        stack.extend(child for child in children if isinstance(child, dict | list))
    return best


MAX_JSON_CHARS = 1_000_000
MAX_JSON_DEPTH = 32
"""Tool arguments are a few levels deep; anything far deeper is a mistake or an attack (60,000 levels raised
RecursionError)."""


class JsonTooBig(ValueError):
    """JSON input too large or nested too deep, as one line."""


def loads_bounded(text: str, *, max_chars: int = MAX_JSON_CHARS, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for untrusted input: size and nesting bounded (JsonTooBig), malformed JSON as ValueError."""
    if len(text) > max_chars:
        raise JsonTooBig(f"JSON input too large ({len(text):,} characters; at most {max_chars:,})")
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonTooBig(f"JSON input nested too deep (at most {max_depth} levels)") from None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise JsonTooBig(f"JSON input nested too deep (at most {max_depth} levels)")
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return value
