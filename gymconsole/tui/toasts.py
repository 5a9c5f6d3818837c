"""One toast that changes in place: the console's running counts ("3 approvals came in while nobody answered",
"waiting for the database for 40 s") replace their last toast rather than stacking a new one each time.

Textual has no public way to update or remove one toast, so its private ``App._unnotify`` / ``App._on_notify``
are used here, and only here.  Both steps happen at once, in order: posting ``Notify`` (the public route) and
removing the previous toast before its own ``Notify`` had been handled left both on screen whenever messages
queued up under load (the removal of a toast not yet added is a no-op; it was added afterwards).
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.notifications import Notification, Notify


def replace_toast(app: App[Any], old: Notification | None, new: Notification) -> Notification:
    """Show ``new`` in place of ``old`` (None: in addition to nothing), now; returns ``new``.

    Call it on the app's event loop (as the engine's events and the database waits are)."""
    if old is not None:
        app._unnotify(old, refresh=False)
    app._on_notify(Notify(new))  # adds it and refreshes the toasts
    return new
