"""One scheduler per database: a lease row in the database, and a claim per scheduled time.

Every gymconsole process that starts a scheduler (the headless service, each
console) keeps its timing, but only the holder of the lease fires scheduled
jobs.  The holder renews the lease every few seconds; a process that finds it
expired (the holder was killed, the PC slept) or finds the holder's process
gone from this machine takes it over.  Two facts make the handover exact:

* a scheduled time is *claimed* (``schedule_fires``, one row per workflow and
  due time, ``INSERT ... ON CONFLICT DO NOTHING``) in the same transaction that
  checks the lease and the paused flag: two processes can never both run it,
  even one that was frozen past its lease and wakes up believing it holds it;
* the new holder catches up what fell due since the old holder's last
  heartbeat and was not claimed: run once if within the misfire grace,
  otherwise recorded as missed.  Nothing is lost in the gap.

Times are the injected clock's, stored as UTC text.  On shutdown the holder
releases the lease so that another process takes over at once.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import uuid4

from gymconsole.clock import Clock, iso
from gymconsole.db import Database, Transaction
from gymconsole.process import pid_alive, same_process_alive

log = logging.getLogger(__name__)

MAX_RENEW_SECONDS = 5.0
"""The holder renews at least this often (and at most every third of the lease)."""


@lru_cache(maxsize=1)
def process_started_at() -> datetime:
    """When this process started (Linux: from /proc; elsewhere: when this was first asked, close enough)."""
    try:
        import time

        with open("/proc/self/stat", encoding="ascii") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as uptime:
            up = float(uptime.read().split()[0])
        started = time.time() - up + ticks / os.sysconf("SC_CLK_TCK")
        return datetime.fromtimestamp(int(started), UTC)
    except (OSError, ValueError, IndexError, AttributeError):
        return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Holder:
    """Who holds the schedules."""

    owner: str
    role: str
    host: str
    pid: int
    process_started_at: datetime
    heartbeat_at: datetime
    expires_at: datetime

    def describe(self, now: datetime) -> str:
        """``the service on HOST, pid N, last heartbeat 12 s ago``."""
        ago = max(0, int((now - self.heartbeat_at).total_seconds()))
        return f"the {self.role} on {self.host}, pid {self.pid}, last heartbeat {ago} s ago"


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _holder(row: dict[str, Any] | None) -> Holder | None:
    if row is None:
        return None
    return Holder(owner=row["owner"], role=row["role"], host=row["host"], pid=int(row["pid"]),
                  process_started_at=_parse(row["process_started_at"]), heartbeat_at=_parse(row["heartbeat_at"]),
                  expires_at=_parse(row["expires_at"]))


class Lease:
    """This process's side of the scheduler lease."""

    def __init__(self, db: Database, clock: Clock, *, seconds: float, role: str = "console") -> None:
        self.db = db
        self.clock = clock
        self.seconds = seconds
        self.role = role
        self.host = socket.gethostname() or "this computer"
        self.pid = os.getpid()
        self.owner = f"{self.host}/{self.pid}/{uuid4().hex[:8]}"
        self.held = False
        self.holder: Holder | None = None
        """The holder as last seen (this process included)."""
        self.taken_from: Holder | None = None
        """Who held the lease before this process acquired it (None: nobody had)."""

    @property
    def renew_seconds(self) -> float:
        return min(MAX_RENEW_SECONDS, self.seconds / 3)

    def _gone(self, holder: Holder, now: datetime) -> bool:
        if holder.expires_at <= now:
            return True
        # Same machine and the process is gone (killed, crashed): no need to wait for the expiry.
        return holder.host == self.host and holder.pid != self.pid and not pid_alive(holder.pid)

    async def renew(self) -> bool:
        """Take or keep the lease if it is free, ours or abandoned.

        Returns whether this call acquired it (then ``taken_from`` is the previous holder, if any).
        """
        now = self.clock.now()
        taken_from: Holder | None = None
        async with self.db.write() as tx:
            current = _holder(await tx.fetch_one("SELECT * FROM scheduler_lease WHERE id = 1"))
            mine = current is not None and current.owner == self.owner
            if current is None or mine or self._gone(current, now):
                await self._write(tx, now, keep_acquired=mine)
                was_held, self.held = self.held, True
                if not mine:
                    taken_from = current
                self.holder = _holder(await tx.fetch_one("SELECT * FROM scheduler_lease WHERE id = 1"))
            else:
                was_held, self.held = self.held, False
                self.holder = current
        if self.held and not was_held:
            whence = f" from {taken_from.describe(now)}" if taken_from else ""
            log.info("lease: this %s (pid %d) now runs the schedules%s", self.role, self.pid, whence)
        elif was_held and not self.held:
            assert self.holder is not None
            log.warning("lease: lost; the schedules are now run by %s", self.holder.describe(now))
        acquired = self.held and not was_held
        if acquired:
            self.taken_from = taken_from
        return acquired

    async def _write(self, tx: Transaction, now: datetime, *, keep_acquired: bool) -> None:
        expires = now + timedelta(seconds=self.seconds)
        if keep_acquired:
            await tx.execute("UPDATE scheduler_lease SET heartbeat_at = ?, expires_at = ? WHERE id = 1",
                             (iso(now), iso(expires)))
            return
        await tx.execute(
            "INSERT INTO scheduler_lease (id, owner, role, host, pid, process_started_at, acquired_at, heartbeat_at,"
            " expires_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET owner = excluded.owner,"
            " role = excluded.role, host = excluded.host, pid = excluded.pid,"
            " process_started_at = excluded.process_started_at, acquired_at = excluded.acquired_at,"
            " heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at",
            (self.owner, self.role, self.host, self.pid, iso(process_started_at()), iso(now), iso(now),
             iso(expires)))

    async def claim(self, workflow: str, due: datetime, *, outcome: str = "run",
                    check_paused: bool = True) -> str | None:
        """Claim one scheduled time for this process.  None when claimed; otherwise why not.

        In one transaction: the lease must be ours and unexpired, the workflow (and the master switch) not
        paused in the database (a pause set by another process counts at once), the time not yet claimed.
        """
        now = self.clock.now()
        async with self.db.write() as tx:
            current = _holder(await tx.fetch_one("SELECT * FROM scheduler_lease WHERE id = 1"))
            if current is None or current.owner != self.owner:
                self.held = False
                return "another process runs the schedules"
            if current.expires_at <= now:  # ours, lapsed while the database was unavailable, and nobody took it
                await self._write(tx, now, keep_acquired=True)
            if check_paused:
                paused = await tx.fetch_value(
                    "SELECT COUNT(*) FROM scheduler_state WHERE paused = 1 AND workflow IN (?, '*')", (workflow,))
                if paused:
                    return "paused"
            inserted = await tx.insert(
                "INSERT INTO schedule_fires (workflow, due_at, owner, claimed_at, outcome) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (workflow, due_at) DO NOTHING",
                (workflow, iso(due.astimezone(UTC)), self.owner, iso(now), outcome))
            return None if inserted is not None else "already run"

    async def claimed(self, workflow: str, due: datetime) -> bool:
        return bool(await self.db.fetch_value(
            "SELECT COUNT(*) FROM schedule_fires WHERE workflow = ? AND due_at = ?",
            (workflow, iso(due.astimezone(UTC)))))

    async def release(self) -> None:
        """Give the lease up (a clean stop): another process may take it at once."""
        if not self.held:
            return
        self.held = False
        async with self.db.write() as tx:
            now = iso(self.clock.now())
            await tx.execute("UPDATE scheduler_lease SET heartbeat_at = ?, expires_at = ? WHERE id = 1 AND owner = ?",
                             (now, now, self.owner))
        log.info("lease: released by this %s (pid %d)", self.role, self.pid)

    async def prune(self, before: datetime) -> int:
        async with self.db.write() as tx:
            return await tx.execute("DELETE FROM schedule_fires WHERE due_at < ?", (iso(before.astimezone(UTC)),))


async def current_holder(db: Database) -> Holder | None:
    """Who holds the schedules, as the database says (for ``service status`` and the like)."""
    return _holder(await db.fetch_one("SELECT * FROM scheduler_lease WHERE id = 1"))


async def running_elsewhere(db: Database, workflow: str) -> tuple[int, int] | None:
    """A run of ``workflow`` in progress in another live gymconsole process (run id, pid), if any.

    A manual run started in the console while the service holds the schedules: the service skips the
    scheduled time rather than running the workflow twice at once.
    """
    rows = await db.fetch_all("SELECT id, pid, pid_started FROM runs WHERE workflow = ? AND status = 'running'"
                              " AND pid IS NOT NULL AND pid != ? ORDER BY id DESC", (workflow, os.getpid()))
    for row in rows:  # a pid the OS has since given to another process is not a run in progress
        if same_process_alive(int(row["pid"]), row["pid_started"]):
            return int(row["id"]), int(row["pid"])
    return None
