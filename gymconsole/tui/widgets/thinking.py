"""The model's extended thinking, set apart from its answer: dimmed, and folded away until opened.

A self-contained widget: :class:`ThinkingView` shows ``trace.thinking`` (live
deltas, or the stored blocks of a replayed run) inside a Textual
``Collapsible``.  It stays hidden for runs without thinking.  The text is the
model's: shown as plain text (``Text``), never as markup.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Collapsible, Static

from gymconsole.tui.trace import RunTrace

PREVIEW_CHARS = 4000
"""Only the newest thinking is drawn: a long chain stays cheap to repaint."""


class ThinkingView(Collapsible):
    """Folded thinking of one run; ``show(trace)`` redraws it when the trace has more."""

    DEFAULT_CSS = """
    ThinkingView { height: auto; max-height: 12; display: none; border: none; padding: 0; margin: 0; }
    ThinkingView > Contents { padding: 0 0 0 2; }
    ThinkingView.has-thinking { display: block; }
    ThinkingView Static { color: $text-muted; text-style: italic; }
    """

    def __init__(self) -> None:
        self._body = Static(classes="thinking-text", markup=False)
        super().__init__(self._body, title="thinking", collapsed=True, classes="thinking")
        self._shown: tuple[int, int] | None = None

    def show(self, trace: RunTrace) -> None:
        size = sum(len(part) for part in trace.thinking) + trace.thinking_redacted
        if (trace.run_id, size) == self._shown:  # the same run's view may show another run next
            return
        self._shown = (trace.run_id, size)
        self.set_class(bool(size), "has-thinking")
        text = "".join(trace.thinking)
        words = len(text.split())
        redacted = f", {trace.thinking_redacted} redacted" if trace.thinking_redacted else ""
        self.title = f"thinking ({words:,} words{redacted})"
        shown = text if len(text) <= PREVIEW_CHARS else "…" + text[-PREVIEW_CHARS:]
        if trace.thinking_redacted:
            shown += f"\n[{trace.thinking_redacted} block(s) of thinking redacted by the API]"
        self._body.update(Text(shown))
