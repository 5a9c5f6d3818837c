"""The life of an outbox row: queued -> sending -> sent | failed, with retries and crash recovery.

Acting tools write rows as ``queued`` inside the act's own transaction.  A
sender *claims* a batch of rows (``sending``, ``claimed_at``, ``claimed_by`` =
host:pid, ``attempts + 1``) in one transaction before it talks to the peer,
sends them, and records every outcome in one more.  Nothing is sent without a
committed claim, so a message is never sent by two senders at once.

Between the two transactions the sender's :class:`SentJournal` (a small file
beside the database) notes each message as it is offered to the peer and the
moment the peer confirms it.  A process killed mid-batch leaves its rows
``sending``; :func:`reconcile_stale` marks those its journal confirms as
``sent`` and puts only the others back in the queue (those never offered
without spending an attempt), so a confirmed message is never sent twice.  The one window left is a message whose
confirmation the process never read (killed, or the connection dropped,
between the peer's "yes" and our reading it): it is sent again with the same
Message-ID / Idempotency-Key, which a peer de-duplicating on those keys absorbs.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gymconsole.clock import Clock, iso
from gymconsole.config import Config
from gymconsole.db import Database, Transaction
from gymconsole.process import pid_alive

STATUSES = ("queued", "sending", "sent", "failed")
PAST_DUE_KINDS = ("reminder", "final_notice")
OPTED_OUT = "opted out"
INTERRUPTED = "interrupted while sending; sent again with the same Message-ID / Idempotency-Key"

_PERSON_OPTED_OUT = ("CASE o.person_kind WHEN 'member' THEN (SELECT opted_out FROM members WHERE id = o.person_id) "
                     "ELSE (SELECT opted_out FROM prospects WHERE id = o.person_id) END")


def owner_id() -> str:
    """Who claims a row: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _claimer_dead(claimed_by: str | None) -> bool:
    host, _, pid_text = (claimed_by or "").rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    return not pid_alive(int(pid_text))


def withdrawal_reason(row: dict[str, Any], member: dict[str, Any] | None, prospect: dict[str, Any] | None) -> str | None:
    """Why a queued message must not go out any more, from its person's current row (None: it still applies)."""
    if row["person_kind"] == "member":
        if member is None:
            return "no longer applies: the member is gone"
        if member["status"] != "active":
            return f"no longer applies: the member is {member['status']}"
        if row["kind"] in PAST_DUE_KINDS and (member["balance_cents"] <= 0 or member["past_due_since"] is None):
            return "no longer applies: the member is no longer past due"
        return None
    if prospect is None or prospect["stage"] in ("lost", "joined"):
        return f"no longer applies: the prospect is {prospect['stage'] if prospect else 'gone'}"
    return None


async def no_longer_applies(tx: Transaction, row: dict[str, Any]) -> str | None:
    """Why a queued message must not go out any more (it may have waited hours for quiet hours or pacing)."""
    if row["person_kind"] == "member":
        member = await tx.fetch_one("SELECT status, balance_cents, past_due_since FROM members WHERE id = ?",
                                    [row["person_id"]])
        return withdrawal_reason(row, member, None)
    prospect = await tx.fetch_one("SELECT stage FROM prospects WHERE id = ?", [row["person_id"]])
    return withdrawal_reason(row, None, prospect)


_DUE_WITH_PEOPLE = (
    f"SELECT o.*, {_PERSON_OPTED_OUT} AS person_opted_out, m.id AS m_id, m.status AS m_status, "
    "m.balance_cents AS m_balance_cents, m.past_due_since AS m_past_due_since, p.id AS p_id, p.stage AS p_stage "
    "FROM outbox o LEFT JOIN members m ON o.person_kind = 'member' AND m.id = o.person_id "
    "LEFT JOIN prospects p ON o.person_kind <> 'member' AND p.id = o.person_id "
    "WHERE o.status = 'queued' AND o.channel = ? AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?) "
    "ORDER BY o.id LIMIT ?")
_PERSON_COLUMNS = ("person_opted_out", "m_id", "m_status", "m_balance_cents", "m_past_due_since", "p_id", "p_stage")


def _split_person(row: dict[str, Any]) -> tuple[dict[str, Any], bool, dict[str, Any] | None, dict[str, Any] | None]:
    """An outbox row joined with its person: the row itself, opted out?, the member, the prospect."""
    extra = {name: row.pop(name) for name in _PERSON_COLUMNS}
    member = None if extra["m_id"] is None else {
        "status": extra["m_status"], "balance_cents": extra["m_balance_cents"],
        "past_due_since": extra["m_past_due_since"]}
    prospect = None if extra["p_id"] is None else {"stage": extra["p_stage"]}
    return row, bool(extra["person_opted_out"]), member, prospect


async def claim_batch(db: Database, clock: Clock, channel: str, owner: str,
                      limit: int) -> tuple[list[dict[str, Any]], int, int]:
    """Claim up to ``limit`` of the oldest due messages of ``channel`` in one transaction.

    On the way, messages that must not go out are failed (opted out, or no
    longer applying).  Returns the claimed rows, how many were failed as opted
    out and how many because they no longer apply.
    """
    claimed: list[dict[str, Any]] = []
    opted_out = withdrawn = 0
    now = iso(clock.now())
    if not await db.fetch_value("SELECT EXISTS (SELECT 1 FROM outbox WHERE status = 'queued' AND channel = ? AND "
                                "(next_attempt_at IS NULL OR next_attempt_at <= ?))", [channel, now]):
        return claimed, opted_out, withdrawn  # nothing due: no write lock taken
    async with db.write() as tx:
        while len(claimed) < limit:
            wanted = limit - len(claimed)
            rows = await tx.fetch_all(_DUE_WITH_PEOPLE, [channel, now, wanted])
            batch: list[dict[str, Any]] = []
            for joined in rows:
                row, person_opted_out, member, prospect = _split_person(joined)
                if person_opted_out:
                    await _fail(tx, row["id"], OPTED_OUT)
                    opted_out += 1
                elif reason := withdrawal_reason(row, member, prospect):
                    await _fail(tx, row["id"], reason)
                    withdrawn += 1
                else:
                    row.update(status="sending", claimed_at=now, claimed_by=owner, attempts=row["attempts"] + 1)
                    batch.append(row)
            if batch:
                marks = ",".join("?" * len(batch))
                await tx.execute(f"UPDATE outbox SET status = 'sending', claimed_at = ?, claimed_by = ?, "
                                 f"attempts = attempts + 1 WHERE status = 'queued' AND id IN ({marks})",
                                 [now, owner, *(row["id"] for row in batch)])
                claimed += batch
            if len(rows) < wanted:
                break
    return claimed, opted_out, withdrawn


@dataclass
class BatchOutcome:
    """What became of a claimed batch, recorded in one transaction by :func:`record_batch`."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    failed: list[tuple[dict[str, Any], str, bool]] = field(default_factory=list)
    """``(row, reason, retryable)`` per failed attempt."""
    not_tried: list[dict[str, Any]] = field(default_factory=list)
    """Claimed but never offered to the peer (the session ended first): back in the queue, the attempt not counted."""


async def record_batch(db: Database, clock: Clock, config: Config, outcome: BatchOutcome) -> dict[int, str]:
    """Record a batch's outcome in one transaction; returns each failed row's new status (queued or failed)."""
    now = clock.now()
    statuses: dict[int, str] = {}
    async with db.write() as tx:
        if outcome.sent:
            await tx.executemany(
                "UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL, next_attempt_at = NULL, "
                "claimed_at = NULL, claimed_by = NULL WHERE id = ? AND status = 'sending' AND claimed_by = ?",
                [(iso(now), row["id"], row["claimed_by"]) for row in outcome.sent])
        if outcome.not_tried:
            await tx.executemany(
                "UPDATE outbox SET status = 'queued', attempts = attempts - 1, claimed_at = NULL, claimed_by = NULL "
                "WHERE id = ? AND status = 'sending' AND claimed_by = ?",
                [(row["id"], row["claimed_by"]) for row in outcome.not_tried])
        for row, reason, retryable in outcome.failed:
            statuses[row["id"]] = await _record_failure(tx, now, config, row, reason, retryable)
    return statuses


async def _record_failure(tx: Transaction, now: datetime, config: Config, row: dict[str, Any], reason: str,
                          retryable: bool) -> str:
    attempts = row["attempts"]
    if retryable and attempts < config.delivery.max_attempts:
        retry_at = now + timedelta(seconds=backoff_seconds(config, attempts))
        await tx.execute("UPDATE outbox SET status = 'queued', last_error = ?, next_attempt_at = ?, "
                         "claimed_at = NULL, claimed_by = NULL WHERE id = ? AND status = 'sending' AND claimed_by = ?",
                         [reason, iso(retry_at), row["id"], row["claimed_by"]])
        return "queued"
    final = reason if not retryable else f"{reason} (gave up after {attempts} attempts)"
    await tx.execute("UPDATE outbox SET status = 'failed', last_error = ?, next_attempt_at = NULL, "
                     "claimed_at = NULL, claimed_by = NULL WHERE id = ? AND status = 'sending' AND claimed_by = ?",
                     [final, row["id"], row["claimed_by"]])
    return "failed"


class SentJournal:
    """How far the current batch got, beside the database: ``<id> tried`` before a message is offered to the
    peer, ``<id> sent`` the moment the peer confirms it.

    A plain append per line (no transaction, no fsync: once written the bytes
    are the operating system's, so a killed process loses nothing); the file is
    removed once the batch is recorded in the database.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def for_owner(cls, db: Database, owner: str) -> SentJournal:
        return cls(journal_path(db.path, owner))

    def trying(self, outbox_id: int) -> None:
        self._append(f"{outbox_id} tried\n")

    def sent(self, outbox_id: int) -> None:
        self._append(f"{outbox_id} sent\n")

    def _append(self, line: str) -> None:
        if self.path is None:
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self._fd, line.encode())

    def read(self) -> tuple[set[int], set[int]]:
        return read_journal(self.path)

    def clear(self) -> None:
        """The batch is recorded in the database: forget it."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def journal_path(db_path: Path, owner: str) -> Path | None:
    """Where ``owner`` (host:pid) journals confirmed messages; None for an in-memory database."""
    if str(db_path) == ":memory:":
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", owner)
    return db_path.with_name(f"{db_path.name}.outbox-{safe}.sent")


def read_journal(path: Path | None) -> tuple[set[int], set[int]]:
    """``(tried, sent)`` outbox ids of a journal (empty when there is none)."""
    tried: set[int] = set()
    sent: set[int] = set()
    if path is None:
        return tried, sent
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return tried, sent
    for line in text.splitlines():
        number, _, what = line.partition(" ")
        if number.isdigit():
            (sent if what == "sent" else tried).add(int(number))
    return tried, sent


async def _fail(tx: Transaction, outbox_id: int, reason: str) -> None:
    await tx.execute("UPDATE outbox SET status = 'failed', last_error = ?, next_attempt_at = NULL, claimed_at = NULL, "
                     "claimed_by = NULL WHERE id = ?", [reason, outbox_id])


def backoff_seconds(config: Config, attempts: int) -> float:
    """Wait before the next attempt after ``attempts`` failed ones (doubling, capped; no jitter)."""
    d = config.delivery
    return min(d.retry_max_seconds, d.retry_base_seconds * 2 ** max(0, attempts - 1))


async def reconcile_stale(db: Database, clock: Clock, config: Config) -> int:
    """Settle messages left ``sending`` by a dead (or long-silent) process; returns how many went back in the queue.

    Those its journal lists were confirmed by the peer: they are marked ``sent``, never sent again.
    """
    stale_before = iso(clock.now() - timedelta(seconds=config.delivery.stale_claim_seconds))
    rows = await db.fetch_all("SELECT id, attempts, claimed_at, claimed_by FROM outbox WHERE status = 'sending'")
    stale = [row for row in rows if _claimer_dead(row["claimed_by"]) or (row["claimed_at"] or "") <= stale_before]
    if not stale:
        return 0
    journals = {owner: journal_path(db.path, owner) for owner in {row["claimed_by"] or "" for row in stale}}
    # Only a journal that exists tells what was not offered (an older sender, or an unwritable folder, left none).
    progress = {owner: read_journal(path) for owner, path in journals.items()
                if path and _claimer_dead(owner) and path.exists()}
    count = 0
    async with db.write() as tx:
        for row in stale:
            owner = row["claimed_by"]
            tried, sent = progress.get(owner or "", (None, set()))
            if row["id"] in sent:
                await tx.execute("UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL, "
                                 "next_attempt_at = NULL, claimed_at = NULL, claimed_by = NULL "
                                 "WHERE id = ? AND status = 'sending' AND claimed_by IS ?",
                                 [row["claimed_at"], row["id"], owner])
            elif tried is not None and row["id"] not in tried:  # claimed, never offered: the attempt did not happen
                count += await tx.execute(
                    "UPDATE outbox SET status = 'queued', attempts = attempts - 1, claimed_at = NULL, "
                    "claimed_by = NULL WHERE id = ? AND status = 'sending' AND claimed_by IS ?", [row["id"], owner])
            elif row["attempts"] >= config.delivery.max_attempts:
                count += await tx.execute(
                    "UPDATE outbox SET status = 'failed', last_error = ?, claimed_at = NULL, claimed_by = NULL "
                    "WHERE id = ? AND status = 'sending' AND claimed_by IS ?",
                    [f"interrupted while sending (gave up after {row['attempts']} attempts)", row["id"], owner])
            else:
                count += await tx.execute(
                    "UPDATE outbox SET status = 'queued', last_error = ?, next_attempt_at = NULL, claimed_at = NULL, "
                    "claimed_by = NULL WHERE id = ? AND status = 'sending' AND claimed_by IS ?",
                    [INTERRUPTED, row["id"], owner])
    for owner, path in journals.items():
        if path is not None and _claimer_dead(owner):
            path.unlink(missing_ok=True)
    return count


async def sent_since(db: Database, channel: str, since: datetime) -> int:
    """Messages of ``channel`` sent (or being sent) since ``since``: what pacing counts."""
    sent = await db.fetch_value("SELECT COUNT(*) FROM outbox WHERE channel = ? AND sent_at >= ?", [channel, iso(since)])
    sending = await db.fetch_value("SELECT COUNT(*) FROM outbox WHERE status = 'sending' AND channel = ?", [channel])
    return int(sent) + int(sending)


async def oldest_sent_since(db: Database, channel: str, since: datetime) -> str | None:
    return await db.fetch_value("SELECT MIN(sent_at) FROM outbox WHERE channel = ? AND sent_at >= ?",
                                [channel, iso(since)])


async def queued_count(db: Database, channel: str) -> int:
    return int(await db.fetch_value("SELECT COUNT(*) FROM outbox WHERE status = 'queued' AND channel = ?", [channel]))


async def next_retry_at(db: Database, channel: str, now: datetime) -> str | None:
    """When the next queued message of ``channel`` that is waiting for a retry becomes due."""
    return await db.fetch_value("SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'queued' AND channel = ? "
                                "AND next_attempt_at > ?", [channel, iso(now)])


async def summary(db: Database) -> dict[str, dict[str, int]]:
    """Counts by channel and status: ``{"email": {"queued": 3, ...}, "sms": {...}}``."""
    counts = {channel: dict.fromkeys(STATUSES, 0) for channel in ("email", "sms")}
    for row in await db.fetch_all("SELECT channel, status, COUNT(*) AS n FROM outbox GROUP BY channel, status"):
        counts[row["channel"]][row["status"]] = row["n"]
    return counts


async def list_messages(db: Database, *, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest messages (optionally of one status), without their bodies."""
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    return await db.fetch_all(
        "SELECT id, status, channel, kind, person_kind, person_id, to_address, subject, attempts, last_error, "
        f"created_at, sent_at, next_attempt_at, run_id FROM outbox {where} ORDER BY id DESC LIMIT ?", [*params, limit])


# --- opt-outs ------------------------------------------------------------------


def phone_digits(phone: str) -> str:
    """The comparable part of a phone number: its last ten digits (fewer if it has fewer)."""
    return re.sub(r"\D", "", phone)[-10:]


@dataclass
class StopReply:
    """What a STOP reply changed."""

    phone: str
    members: list[int] = field(default_factory=list)
    prospects: list[int] = field(default_factory=list)
    failed_messages: int = 0

    @property
    def matched(self) -> bool:
        return bool(self.members or self.prospects)

    def as_dict(self) -> dict[str, Any]:
        return {"phone": self.phone, "members": self.members, "prospects": self.prospects,
                "failed_messages": self.failed_messages}


async def record_stop_reply(db: Database, clock: Clock, phone: str) -> StopReply:
    """A STOP reply from ``phone`` (what the gateway's webhook receiver calls).

    Marks every member and prospect with that number opted out and fails their
    queued messages with the reason "opted out".  Raises ValueError for
    something that is not a phone number.
    """
    digits = phone_digits(phone)
    if len(digits) < 7:
        raise ValueError(f"not a phone number: {phone!r}")
    result = StopReply(phone)
    async with db.write() as tx:
        for table, found in (("members", result.members), ("prospects", result.prospects)):
            candidates = await tx.fetch_all(f"SELECT id, phone FROM {table} WHERE phone LIKE ?", ["%" + digits[-4:]])
            found.extend(row["id"] for row in candidates if phone_digits(row["phone"] or "") == digits)
            for person_id in found:
                await tx.execute(f"UPDATE {table} SET opted_out = 1 WHERE id = ?", [person_id])
                result.failed_messages += await tx.execute(
                    "UPDATE outbox SET status = 'failed', last_error = ?, next_attempt_at = NULL WHERE status = 'queued' "
                    "AND person_kind = ? AND person_id = ?", [OPTED_OUT, table[:-1], person_id])
    return result
