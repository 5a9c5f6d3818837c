"""Faults an unattended service waits out instead of dying: a locked database, a full disk, an I/O error.

:func:`is_transient` says whether an error is one of them; :class:`Backoff`
waits between attempts (doubling to a cap) and logs one line per outage, not
one per attempt.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3

from gymconsole.db import DatabaseError
from gymconsole.db.connection import DatabaseBusy

TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EAGAIN, errno.EACCES, errno.EBUSY,
                    getattr(errno, "EDQUOT", errno.ENOSPC)}
TRANSIENT_SQLITE = ("locked", "busy", "disk is full", "disk i/o error", "disk error", "unable to open", "readonly",
                    "read-only", "cannot open")


def is_transient(exc: BaseException) -> bool:
    """A fault that may clear by itself (another writer, a full disk, a network share hiccup)."""
    if isinstance(exc, DatabaseBusy):
        return True
    if isinstance(exc, sqlite3.OperationalError | DatabaseError):
        text = str(exc).lower()
        return any(word in text for word in TRANSIENT_SQLITE)
    if isinstance(exc, OSError):
        return exc.errno in TRANSIENT_ERRNOS
    return False


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Backoff:
    """Waits 1, 2, 4 ... up to ``cap`` seconds; the first failure of an outage is logged, the rest are not."""

    def __init__(self, log: logging.Logger, what: str, *, first: float = 1.0, cap: float = 60.0) -> None:
        self.log = log
        self.what = what
        self.first = first
        self.cap = cap
        self.delay = first
        self.failures = 0

    async def wait(self, exc: BaseException, stop: asyncio.Event | None = None) -> None:
        """Log (the first failure only) and wait; returns early when ``stop`` is set."""
        if self.failures == 0:
            self.log.warning("%s: %s; trying again with backoff", self.what, describe(exc))
        self.failures += 1
        delay, self.delay = self.delay, min(self.delay * 2, self.cap)
        if stop is None:
            await asyncio.sleep(delay)
            return
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            pass

    def recovered(self) -> None:
        if self.failures:
            self.log.info("%s: works again after %d failed attempt(s)", self.what, self.failures)
        self.failures = 0
        self.delay = self.first
