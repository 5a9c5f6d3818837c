"""Showing a screen again without restyling it, unless the theme or the CSS changed while it was hidden.

Textual restyles every widget of a screen it shows (``ScreenResume.refresh_styles``).  A screen that was styled
when built (or shown last) stays styled while hidden, so unless the theme or the CSS changed since, that restyle
only repeats work: it was most of the cost of opening the history screen.
"""

from __future__ import annotations

from typing import Any

from textual import events


class StyledFor:
    """The app's count of theme and CSS changes when a screen was last styled."""

    def __init__(self) -> None:
        self._count: int | None = None

    def styled(self, app: Any) -> None:
        """The screen was styled now (mounted)."""
        self._count = _css_changes(app)

    def resumed(self, app: Any, event: events.ScreenResume) -> None:
        """The screen is shown again: restyled only if the theme or the CSS changed since it was last styled."""
        count = _css_changes(app)
        if count is not None and count == self._count:
            event.refresh_styles = False
        self._count = count


def _css_changes(app: Any) -> int | None:
    # Textual counts theme and CSS changes in a private attribute (App._css_update_count, Textual 8.2.8, which
    # pyproject pins): read here only.  Without it (another Textual), None: every showing restyles, as by default.
    count = getattr(app, "_css_update_count", None)
    return count if isinstance(count, int) else None
