"""Small formatting helpers shared by the screens.

Everything that comes from the database or the model is untrusted: it is
wrapped in :class:`rich.text.Text` (never parsed as markup) before it reaches
a widget.  Colours come from the running theme, never from hex literals.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text
from textual.app import App

from gymconsole.present.sanitize import deep_visible, visible
from gymconsole.present.words import cost, decision_words, schedule_words, status_words

if TYPE_CHECKING:
    from gymconsole.config import CronSchedule

STATUS_STYLE = {
    "running": "accent",
    "succeeded": "success",
    "failed": "error",
    "cancelled": "warning",
    "awaiting_approval": "warning",
    "budget_exhausted": "warning",
    "interrupted": "error",
    "missed": "warning",
    "skipped": "foreground-muted",
    "truncated": "warning",
    "context_exceeded": "error",
    "rate_limited": "warning",
    "attention": "warning",
}
RISK_STYLE = {"safe": "success", "moderate": "warning", "high": "error"}
DECISION_STYLE = {
    "approved": "success",
    "auto": "success",
    "partial": "warning",
    "dry_run": "accent",
    "denied": "error",
    "timed_out": "warning",
}


def theme_style(app: App[Any] | None, variable: str, *, bold: bool = False) -> Style:
    """A Rich style coloured by a variable of the running theme (``error``, ``success``...)."""
    colour = None
    if app is not None:
        colour = app.theme_variables.get(variable)
    try:
        return Style(color=colour, bold=bold)
    except Exception:  # a theme value Rich cannot parse: plain text is better than a crash
        return Style(bold=bold)


def cell(value: Any, style: Style | str = "") -> Text:
    """A table cell that is never parsed as markup."""
    return Text(visible(value), style=style, no_wrap=True, end="")


def styled(app: App[Any] | None, value: Any, table: dict[str, str], key: str | None = None) -> Text:
    """A cell coloured by a lookup table (status, risk, decision), in the manager's words."""
    name = str(value if key is None else key)
    variable = table.get(name)
    if value is None:
        shown = ""
    elif key is None and table is STATUS_STYLE:
        shown = status_words(name)
    elif key is None and table is DECISION_STYLE:
        shown = decision_words(name)
    else:
        shown = str(value).replace("_", " ")
    return cell(shown, theme_style(app, variable, bold=name in ("failed", "high", "denied")) if variable else "")


def run_status(app: App[Any] | None, run: dict[str, Any]) -> Text:
    """A run's status cell: "needs attention" when its summary claimed acts the facts do not show."""
    if run.get("attention"):
        return cell("needs attention", theme_style(app, STATUS_STYLE["attention"], bold=True))
    return styled(app, run.get("status", ""), STATUS_STYLE)


def run_summary(run: dict[str, Any]) -> str:
    """What a run ended with, the attention note first (the facts before the model's own words)."""
    text = run.get("error") or run.get("summary") or ""
    return f"attention: {run['attention']}; {text}" if run.get("attention") else text


_LINE_SPACE = re.compile(r"[ \t\r\n]+")


def one_line(text: str | None, width: int = 80) -> str:
    """A text's lines joined into one, shortened to ``width`` characters.  Line breaks are layout here, so
    they become spaces; every other control character is still made visible."""
    if not text:
        return ""
    line = visible(" ".join(_LINE_SPACE.split(text.strip())))
    return line if len(line) <= width else line[: width - 1] + "…"


def compact(value: Any, width: int = 60) -> str:
    """A JSON value on one short line."""
    try:
        text = json.dumps(deep_visible(value), separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(value)
    return one_line(text, width)


def money(value: float | None) -> str:
    """A run's cost (four decimals under a dollar)."""
    return cost(value)


def tokens(value: int | None) -> str:
    return f"{value or 0:,}"


def duration(seconds: float | None) -> str:
    """``850 ms``, ``4.2 s``, ``3m 05s``, ``2h 10m``, ``3d 4h``."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def countdown(target: datetime | None, now: datetime) -> str:
    """``in 4m 05s`` (or ``due`` once the moment has passed)."""
    if target is None:
        return "—"
    seconds = (target - now).total_seconds()
    return "due" if seconds <= 0 else "in " + duration(seconds)


def parse_time(value: str | datetime | None) -> datetime | None:
    """A stored timestamp (ISO text in UTC, see :func:`gymconsole.clock.iso`) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_time(value: str | datetime | None, zone: str, *, with_date: bool = True) -> str:
    """A timestamp in the gym's timezone: ``Mon 11-02 10:15`` (or ``10:15``)."""
    moment = parse_time(value)
    if moment is None:
        return ""
    local = moment.astimezone(_zone(zone))
    return local.strftime("%a %m-%d %H:%M" if with_date else "%H:%M:%S")


def badge(app: App[Any] | None, label: str, variable: str) -> Text:
    """A short label on a coloured background (``DEMO``, ``OFFLINE``, ``DRY RUN``)."""
    background = app.theme_variables.get(variable) if app is not None else None
    foreground = app.theme_variables.get("background") if app is not None else None
    try:
        style = Style(color=foreground, bgcolor=background, bold=True)
    except Exception:  # a theme value Rich cannot parse
        style = Style(reverse=True, bold=True)
    return Text(f" {label} ", style=style)


def describe_schedule(schedule: CronSchedule) -> str:
    """A cron schedule in words (``daily 06:00``); the CLI uses the same words."""
    return schedule_words(schedule)


def shown_path(path: Path | str | None) -> str:
    """A path as the manager typed it: relative to the working folder when inside it."""
    if path is None:
        return ""
    candidate = Path(path)
    try:
        return str(candidate.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(candidate)


def _zone(name: str) -> tzinfo:
    """The timezone called ``name`` (zoneinfo, loaded on the first time shown: none is before the first frame)."""
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def when(value: str | datetime | None, zone: str, now: datetime) -> str:
    """A moment near ``now`` in few characters: ``10:15`` today, ``Tue 06:00`` this week, ``12-01 09:00``."""
    moment = parse_time(value)
    if moment is None:
        return ""
    tz = _zone(zone)
    local, today = moment.astimezone(tz), now.astimezone(tz).date()
    if local.date() == today:
        return local.strftime("%H:%M")
    if abs((local.date() - today).days) < 7:
        return local.strftime("%a %H:%M")
    return local.strftime("%m-%d %H:%M") if local.year == today.year else local.strftime("%Y-%m-%d")


def status_text(status: str | None) -> str:
    """``budget_exhausted`` as ``stopped: budget reached``."""
    return status_words(status)
