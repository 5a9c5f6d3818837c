"""The life of an outbox row: queued -> sending -> sent | failed, with retries and crash recovery.

Acting tools write rows as ``queued`` inside the act's own transaction.  A
sender *claims* a row (``sending``, ``claimed_at``, ``claimed_by`` =
host:pid, ``attempts + 1``) in a transaction of its own before it talks to
the peer, then records the outcome in another.  Nothing is sent without a
committed claim, so a message is never sent by two senders at once; a row left
``sending`` by a process that died is put back in the queue by
:func:`reconcile_stale` and sent again with the same Message-ID /
Idempotency-Key.  The remaining window: a process killed after the peer
accepted the message but before ``sent`` was committed sends it a second time
(at-least-once), which a peer de-duplicating on those keys absorbs.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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


async def no_longer_applies(tx: Transaction, row: dict[str, Any]) -> str | None:
    """Why a queued message must not go out any more (it may have waited hours for quiet hours or pacing)."""
    if row["person_kind"] == "member":
        member = await tx.fetch_one("SELECT status, balance_cents, past_due_since FROM members WHERE id = ?",
                                    [row["person_id"]])
        if member is None:
            return "no longer applies: the member is gone"
        if member["status"] != "active":
            return f"no longer applies: the member is {member['status']}"
        if row["kind"] in PAST_DUE_KINDS and (member["balance_cents"] <= 0 or member["past_due_since"] is None):
            return "no longer applies: the member is no longer past due"
        return None
    prospect = await tx.fetch_one("SELECT stage FROM prospects WHERE id = ?", [row["person_id"]])
    if prospect is None or prospect["stage"] in ("lost", "joined"):
        return f"no longer applies: the prospect is {prospect['stage'] if prospect else 'gone'}"
    return None


async def claim_next(db: Database, clock: Clock, channel: str, owner: str) -> tuple[dict[str, Any] | None, int, int]:
    """Claim the oldest due queued message of ``channel``; fails, on the way, those that must not go out.

    Returns the claimed row (or None when nothing is due), how many messages
    were failed as opted out and how many because they no longer apply (the
    member was frozen, cancelled or paid up while the message waited).
    """
    opted_out = withdrawn = 0
    now = iso(clock.now())
    while True:
        async with db.write() as tx:
            row = await tx.fetch_one(
                f"SELECT o.*, {_PERSON_OPTED_OUT} AS person_opted_out FROM outbox o WHERE o.status = 'queued' "
                "AND o.channel = ? AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?) ORDER BY o.id LIMIT 1",
                [channel, now])
            if row is None:
                return None, opted_out, withdrawn
            if row["person_opted_out"]:
                await _fail(tx, row["id"], OPTED_OUT)
                opted_out += 1
                continue
            if reason := await no_longer_applies(tx, row):
                await _fail(tx, row["id"], reason)
                withdrawn += 1
                continue
            await tx.execute("UPDATE outbox SET status = 'sending', claimed_at = ?, claimed_by = ?, "
                             "attempts = attempts + 1 WHERE id = ? AND status = 'queued'", [now, owner, row["id"]])
            row.update(status="sending", claimed_at=now, claimed_by=owner, attempts=row["attempts"] + 1)
            return row, opted_out, withdrawn


async def _fail(tx: Transaction, outbox_id: int, reason: str) -> None:
    await tx.execute("UPDATE outbox SET status = 'failed', last_error = ?, next_attempt_at = NULL, claimed_at = NULL, "
                     "claimed_by = NULL WHERE id = ?", [reason, outbox_id])


async def mark_sent(db: Database, clock: Clock, row: dict[str, Any]) -> None:
    async with db.write() as tx:
        await tx.execute("UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL, next_attempt_at = NULL, "
                         "claimed_at = NULL, claimed_by = NULL WHERE id = ? AND status = 'sending' AND claimed_by = ?",
                         [iso(clock.now()), row["id"], row["claimed_by"]])


def backoff_seconds(config: Config, attempts: int) -> float:
    """Wait before the next attempt after ``attempts`` failed ones (doubling, capped; no jitter)."""
    d = config.delivery
    return min(d.retry_max_seconds, d.retry_base_seconds * 2 ** max(0, attempts - 1))


async def mark_failed_attempt(db: Database, clock: Clock, config: Config, row: dict[str, Any], reason: str,
                              retryable: bool) -> str:
    """Record a failed attempt: back to ``queued`` with a retry time, or ``failed`` for good. Returns the new status."""
    attempts = row["attempts"]
    async with db.write() as tx:
        if retryable and attempts < config.delivery.max_attempts:
            retry_at = clock.now() + timedelta(seconds=backoff_seconds(config, attempts))
            await tx.execute("UPDATE outbox SET status = 'queued', last_error = ?, next_attempt_at = ?, "
                             "claimed_at = NULL, claimed_by = NULL WHERE id = ? AND status = 'sending' AND claimed_by = ?",
                             [reason, iso(retry_at), row["id"], row["claimed_by"]])
            return "queued"
        final = reason if not retryable else f"{reason} (gave up after {attempts} attempts)"
        await tx.execute("UPDATE outbox SET status = 'failed', last_error = ?, next_attempt_at = NULL, "
                         "claimed_at = NULL, claimed_by = NULL WHERE id = ? AND status = 'sending' AND claimed_by = ?",
                         [final, row["id"], row["claimed_by"]])
        return "failed"


async def reconcile_stale(db: Database, clock: Clock, config: Config) -> int:
    """Put messages left ``sending`` by a dead (or long-silent) process back in the queue; returns how many."""
    stale_before = iso(clock.now() - timedelta(seconds=config.delivery.stale_claim_seconds))
    rows = await db.fetch_all("SELECT id, attempts, claimed_at, claimed_by FROM outbox WHERE status = 'sending'")
    count = 0
    for row in rows:
        if not (_claimer_dead(row["claimed_by"]) or (row["claimed_at"] or "") <= stale_before):
            continue
        async with db.write() as tx:
            if row["attempts"] >= config.delivery.max_attempts:
                changed = await tx.execute(
                    "UPDATE outbox SET status = 'failed', last_error = ?, claimed_at = NULL, claimed_by = NULL "
                    "WHERE id = ? AND status = 'sending' AND claimed_by IS ?",
                    [f"interrupted while sending (gave up after {row['attempts']} attempts)", row["id"],
                     row["claimed_by"]])
            else:
                changed = await tx.execute(
                    "UPDATE outbox SET status = 'queued', last_error = ?, next_attempt_at = NULL, claimed_at = NULL, "
                    "claimed_by = NULL WHERE id = ? AND status = 'sending' AND claimed_by IS ?",
                    [INTERRUPTED, row["id"], row["claimed_by"]])
        count += changed
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
