"""Draining the outbox: claim a batch, send it, record it; paced and retried.

Each batch is claimed in one transaction, sent (email: one SMTP session for
the whole batch), and its outcome recorded in one more; what the peer
confirms meanwhile is journalled at once (see :mod:`gymconsole.delivery.outbox`).

Only channels switched on in ``[delivery]`` are drained; messages of a channel
left in ``outbox`` mode stay ``queued`` for the gym's own systems.  A failed
attempt goes back to the queue with an exponential backoff on the injected
clock until ``max_attempts``; a refusal the peer calls permanent (SMTP 5xx,
HTTP 4xx) fails at once.  See :mod:`gymconsole.delivery.outbox` for the claim
protocol and what happens after a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gymconsole.clock import Clock
from gymconsole.config import Config
from gymconsole.db import Database
from gymconsole.delivery import outbox
from gymconsole.delivery.email import NOT_TRIED, BatchProgress, Email, Result, SmtpSender
from gymconsole.delivery.pacing import Pacer
from gymconsole.delivery.sms import SmsGatewaySender, Text, idempotency_key
from gymconsole.delivery.transport import DeliveryError

log = logging.getLogger(__name__)

Deliver = Callable[[dict[str, Any]], Awaitable[None]]
"""Sends one message (raises :class:`DeliveryError` when it did not go)."""
DeliverBatch = Callable[[list[dict[str, Any]], BatchProgress, Callable[[], bool]], Awaitable[list[Result]]]
"""Sends several, telling ``progress`` as each is offered and taken; stops early when asked (the rest are
:data:`NOT_TRIED`); one result each."""
BATCH_SIZE = 100
"""Most messages claimed, sent and recorded together."""
FAILURES_BEFORE_PAUSE = 3
"""Failed attempts in a row after which a drain stops trying a channel until the next retry is due."""


@dataclass
class DrainReport:
    """What one drain did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    opted_out: int = 0
    withdrawn: int = 0
    """Failed before sending because they no longer apply (member frozen, cancelled or paid up meanwhile)."""
    reconciled: int = 0
    waiting: dict[str, str] = field(default_factory=dict)
    """Channel -> why it stopped with messages still queued (pacing, quiet hours, retries due later)."""
    next_due: datetime | None = None
    """When a queued message of a drained channel may next be sent (None: nothing left to wait for)."""
    errors: list[str] = field(default_factory=list)

    def _due(self, moment: datetime | None) -> None:
        if moment is not None and (self.next_due is None or moment < self.next_due):
            self.next_due = moment

    def add(self, other: DrainReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.opted_out += other.opted_out
        self.withdrawn += other.withdrawn
        self.reconciled += other.reconciled
        self.waiting = dict(other.waiting)
        self.next_due = other.next_due
        self.errors = (self.errors + other.errors)[-10:]

    def line(self) -> str:
        text = (f"sent {self.sent}, retrying {self.retrying}, failed {self.failed}, opted out {self.opted_out}"
                + (f", withdrawn {self.withdrawn} (no longer applies)" if self.withdrawn else "")
                + (f", resumed {self.reconciled} interrupted" if self.reconciled else ""))
        if self.waiting:
            text += "; waiting: " + "; ".join(self.waiting.values())
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "retrying": self.retrying, "failed": self.failed, "opted_out": self.opted_out,
                "withdrawn": self.withdrawn, "reconciled": self.reconciled, "waiting": self.waiting,
                "next_due": self.next_due.isoformat() if self.next_due else None, "errors": self.errors}


class OutboxSender:
    """Sends queued messages through the configured channels."""

    def __init__(self, db: Database, config: Config, clock: Clock, *, email: Deliver | None = None,
                 sms: Deliver | None = None) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.pacer = Pacer(db, config, clock)
        self._smtp = SmtpSender.from_config(config)
        self._sms = SmsGatewaySender(config.delivery.sms_gateway)
        self.channels: dict[str, DeliverBatch] = {}
        if config.delivery.email == "smtp" or email is not None:
            self.channels["email"] = self._one_by_one(email) if email else self._send_emails
        if config.delivery.sms == "gateway" or sms is not None:
            self.channels["sms"] = self._one_by_one(sms or self._send_sms)

    @property
    def enabled(self) -> bool:
        return bool(self.channels)

    async def _send_emails(self, rows: list[dict[str, Any]], progress: BatchProgress,
                           stop: Callable[[], bool]) -> list[Result]:
        now = self.clock.now()
        return await self._smtp.send_batch([Email(row["to_address"], row["subject"], row["body"],
                                                  self._smtp.message_id_for(row["effect_key"]), now) for row in rows],
                                           progress, stop)

    @staticmethod
    def _one_by_one(deliver: Deliver) -> DeliverBatch:
        """A batch through a one-message sender; after a few failures in a row the rest wait (the peer looks down)."""

        async def send(rows: list[dict[str, Any]], progress: BatchProgress,
                       stop: Callable[[], bool]) -> list[Result]:
            results: list[Result] = [NOT_TRIED] * len(rows)
            failures = 0
            for index, row in enumerate(rows):
                if failures >= FAILURES_BEFORE_PAUSE or (index and stop()):
                    break
                progress.trying(index)
                try:
                    await deliver(row)
                except DeliveryError as exc:
                    results[index], failures = exc, failures + 1
                    continue
                except Exception as exc:  # an adapter bug: keep the message, record why, go on with the others
                    log.exception("sending outbox message %s failed unexpectedly", row["id"])
                    results[index] = DeliveryError(f"unexpected error: {type(exc).__name__}", retryable=True)
                    failures += 1
                    continue
                results[index], failures = None, 0
                progress.taken(index)
            return results

        return send

    async def _send_sms(self, row: dict[str, Any]) -> None:
        await self._sms.send(Text(row["to_address"], row["body"], idempotency_key(row["effect_key"]),
                                  f"outbox-{row['id']}"))

    async def drain_once(self, stop: Callable[[], bool] | None = None) -> DrainReport:
        """Send every message that may go now; returns what happened and when more may go."""
        report = DrainReport(reconciled=await outbox.reconcile_stale(self.db, self.clock, self.config))
        owner = outbox.owner_id()
        for channel, deliver in self.channels.items():
            failures_in_a_row = 0
            while not (stop and stop()):
                if failures_in_a_row >= FAILURES_BEFORE_PAUSE:
                    # the peer looks down: don't spend an attempt (and a timeout) on every queued message
                    report.waiting[channel] = f"{channel}: {failures_in_a_row} failures in a row, paused until a retry"
                    retry_at = await outbox.next_retry_at(self.db, channel, self.clock.now())
                    report._due(datetime.fromisoformat(retry_at).replace(tzinfo=UTC) if retry_at else None)
                    break
                allowance = await self.pacer.allowance(channel)
                if not allowance.ok:
                    if await outbox.queued_count(self.db, channel):
                        report.waiting[channel] = allowance.reason
                        report._due(allowance.wait_until)
                    break
                rows, opted_out, withdrawn = await outbox.claim_batch(self.db, self.clock, channel, owner,
                                                                      min(allowance.room, BATCH_SIZE))
                report.opted_out += opted_out
                report.withdrawn += withdrawn
                if not rows:
                    retry_at = await outbox.next_retry_at(self.db, channel, self.clock.now())
                    if retry_at:
                        report.waiting[channel] = f"{channel}: retries due from {retry_at} UTC"
                        report._due(datetime.fromisoformat(retry_at).replace(tzinfo=UTC))
                    break
                sent, failed = await self._send_batch(rows, deliver, report, owner, stop or (lambda: False))
                failures_in_a_row = failures_in_a_row + failed if not sent else (0 if failed == 0 else failed)
        return report

    async def _send_batch(self, rows: list[dict[str, Any]], deliver: DeliverBatch, report: DrainReport,
                          owner: str, stop: Callable[[], bool]) -> tuple[int, int]:
        """Send one claimed batch and record every outcome in one transaction; ``(sent, failed)``."""
        journal = outbox.SentJournal.for_owner(self.db, owner)
        try:
            results = await deliver(rows, _Progress(journal, rows), stop)
        except Exception as exc:  # an adapter bug: what the journal holds went, the rest is tried again
            log.exception("sending an outbox batch failed unexpectedly")
            results = [DeliveryError(f"unexpected error: {type(exc).__name__}", retryable=True)] * len(rows)
        _, confirmed = journal.read()
        outcome = outbox.BatchOutcome()
        for row, result in zip(rows, results):
            if result is None or row["id"] in confirmed:
                outcome.sent.append(row)
            elif isinstance(result, DeliveryError):
                outcome.failed.append((row, result.reason, result.retryable))
            else:
                outcome.not_tried.append(row)
        statuses = await outbox.record_batch(self.db, self.clock, self.config, outcome)
        journal.clear()
        report.sent += len(outcome.sent)
        for row, reason, _ in outcome.failed:
            log.warning("outbox message %s attempt %s failed: %s", row["id"], row["attempts"], reason)
            report.errors.append(f"#{row['id']}: {reason}")
            if statuses[row["id"]] == "failed":
                report.failed += 1
            else:
                report.retrying += 1
        if outcome.sent:
            log.info("outbox: %d %s message(s) sent", len(outcome.sent), rows[0]["channel"])
        return len(outcome.sent), len(outcome.failed)

    async def drain(self, *, until_idle: bool = False, stop: Callable[[], bool] | None = None,
                    on_wait: Callable[[DrainReport], None] | None = None) -> DrainReport:
        """Drain once, or with ``until_idle`` keep going (sleeping on the clock) until nothing is left to wait for."""
        total = DrainReport()
        while True:
            report = await self.drain_once(stop)
            total.add(report)
            if not until_idle or report.next_due is None or (stop and stop()):
                return total
            if on_wait is not None:
                on_wait(report)
            await self.clock.sleep(max(0.0, (report.next_due - self.clock.now()).total_seconds()))


class _Progress:
    """Batch progress into the journal, by outbox id."""

    def __init__(self, journal: outbox.SentJournal, rows: list[dict[str, Any]]) -> None:
        self._journal = journal
        self._ids = [row["id"] for row in rows]

    def trying(self, index: int) -> None:
        self._journal.trying(self._ids[index])

    def taken(self, index: int) -> None:
        self._journal.sent(self._ids[index])
