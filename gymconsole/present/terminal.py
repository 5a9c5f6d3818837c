"""The terminal edge: Rich consoles whose every printed text passes the sanitiser.

:func:`safe_console` is the only way the CLI makes a Rich console.  A render
hook wraps whatever is printed, so text that reaches the terminal has its
control characters made visible even when a caller forgot to sanitise it
(Rich itself removes only a few, and passes ``ESC`` through).  Rich's own
styling codes are control segments and are left alone.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderHook, RenderResult
from rich.segment import Segment
from rich.text import Text

from gymconsole.present.run_events import Line
from gymconsole.present.sanitize import visible

ROLE_STYLE = {"strong": "bold", "muted": "dim", "tool": "cyan", "ok": "green", "error": "red", "warning": "yellow",
              "approval": "magenta", "accent": "cyan", "thinking": "dim italic"}


class _Visible:
    """A renderable whose text segments are sanitised after rendering."""

    def __init__(self, inner: ConsoleRenderable) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self.inner, options):
            if segment.control or segment.text.isprintable() or segment.text == "\n":
                yield segment
            else:
                yield Segment(visible(segment.text, multiline=True), segment.style)


class _SanitiseHook(RenderHook):
    def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
        return [_Visible(r) for r in renderables]  # type: ignore[misc]


def safe_console(**options: Any) -> Console:
    """A Rich console (``highlight=False`` unless asked) that never lets a control character through."""
    options.setdefault("highlight", False)
    console = Console(**options)
    console.push_render_hook(_SanitiseHook())
    return console


def role_style(role: str) -> str:
    return " ".join(ROLE_STYLE.get(word, word) for word in role.split())


def rich_line(line: Line) -> Text:
    """A presenter line as Rich text (never parsed as markup)."""
    return Text.assemble(*((text, role_style(role)) for text, role in line.parts))
