"""Shorter garbage-collection pauses in a console that is never closed.

CPython's cyclic collector stops the event loop while it runs; a full (generation 2) collection
walks every tracked object in the process.  Measured in the console soak (``make bench``,
``GYMCONSOLE_SOAK_STALLS=1``): the start-up heap alone (Textual, Rich, pydantic, APScheduler,
the dashboard and the prepared history screen, ~90,000 objects) costs ~100 ms of CPU per full
collection, and full collections came every few seconds while runs kept arriving; they were
the longest stalls of the loop, the keys that answered in seconds.

Those start-up objects live as long as the console, so once the console is up they are moved
out of the collector's sight (:func:`gc.freeze`, after one collection while the console is idle,
so that the garbage of start-up is freed rather than frozen for good).  Reference
counting still frees them as usual; only a cycle among them would outlive its use, and
:func:`release` hands them back to the collector when the console closes (tests start many
consoles in one process).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Keep what exists now out of every later collection; returns how many objects that is."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("gc: %d start-up objects frozen", frozen)
    return frozen


def release() -> None:
    """Give the frozen objects back to the collector (the console is closing)."""
    gc.unfreeze()
