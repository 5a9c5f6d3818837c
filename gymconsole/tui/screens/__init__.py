"""The console's screens.

The dashboard's rules are the app's stylesheet (``console.tcss``); every other
screen's are in ``screens.tcss``, which each of those screens names as its
``CSS_PATH``.  The app reads that file once the dashboard shows
(:func:`load_screens_css`), so neither the first frame nor the first opening
of a screen parses it; a screen opened before then reads it itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCREENS_CSS = Path(__file__).resolve().parent.parent / "screens.tcss"


def load_screens_css(app: Any) -> None:
    """Add the screens' rules to the app's stylesheet and restyle what is mounted (once)."""
    stylesheet = app.stylesheet
    if stylesheet.has_source(str(SCREENS_CSS), ""):
        return
    stylesheet.read(SCREENS_CSS)
    stylesheet.reparse()
    stylesheet.update(app)
