"""Alerts to the manager: one line, with counts, to a Slack-compatible webhook and/or by email.

Sent when a run ends ``failed`` or ``budget_exhausted`` and when an approval
has waited longer than ``alerts.approval_wait_minutes``.  Waiting approvals are
found by a sweep (:meth:`AlertNotifier.check_waiting_approvals`) that runs on
every run start and finish, so the alert comes at the first run after the
limit (door access and past-due monitoring run hourly); each approval is
alerted once, recorded in the effects ledger.  A failed alert is logged and
never raises.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from collections.abc import Iterator
from typing import Any

from gymconsole.clock import Clock, iso
from gymconsole.config import Config
from gymconsole.db import Database
from gymconsole.delivery.email import Email, SmtpSender
from gymconsole.engine.approvals import ApprovalStore
from gymconsole.present.sanitize import header_safe
from gymconsole.delivery.transport import DeliveryError, http_json, scrub, secret

log = logging.getLogger(__name__)

ALERT_STATUSES = frozenset({"failed", "budget_exhausted"})
MAX_LINE = 400


class AlertNotifier:
    """Builds and sends the manager's alerts; an event-bus subscriber via :meth:`handle`."""

    def __init__(self, db: Database, config: Config, clock: Clock) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.sent: list[str] = []
        """Lines delivered to at least one channel in this process (for the console and tests)."""

    @property
    def configured(self) -> bool:
        a = self.config.alerts
        return bool(secret(a.slack_webhook_env) or a.email_to)

    async def handle(self, event: Any) -> None:
        """React to engine events (RunStarted / RunFinished / ApprovalRequested)."""
        from gymconsole.engine.events import ApprovalRequested, RunFinished, RunStarted

        if not isinstance(event, RunStarted | RunFinished | ApprovalRequested) or not self.configured:
            return
        if isinstance(event, RunFinished) and event.status in ALERT_STATUSES and self.config.alerts.on_failure:
            await self.send(await self.failure_line(event.run_id, event.workflow, event.status,
                                                    event.error or event.summary))
        await self.check_waiting_approvals()

    async def _counts(self) -> str:
        since = iso(self.clock.now() - timedelta(hours=24))
        runs = await self.db.fetch_value("SELECT COUNT(*) FROM runs WHERE status IN ('failed', 'budget_exhausted') "
                                         "AND started_at >= ?", [since])
        waiting = len(await ApprovalStore(self.db, self.clock).waiting_since())
        failed = await self.db.fetch_value("SELECT COUNT(*) FROM outbox WHERE status = 'failed' AND created_at >= ?",
                                           [since])
        return (f"last 24 h: {runs} failed run{'s' * (runs != 1)}, {waiting} approval{'s' * (waiting != 1)} waiting, "
                f"{failed} message{'s' * (failed != 1)} failed")

    def _title(self, workflow: str) -> str:
        flow = self.config.workflows.get(workflow)
        return flow.title if flow else workflow

    async def failure_line(self, run_id: int, workflow: str, status: str, detail: str | None) -> str:
        what = "ran out of budget" if status == "budget_exhausted" else "failed"
        reason = " ".join((detail or "").split())
        text = f"gymconsole: {self._title(workflow)} run #{run_id} {what}" + (f": {reason}" if reason else "")
        return _cut(text, MAX_LINE - 80) + f" ({await self._counts()})"

    async def check_waiting_approvals(self) -> int:
        """Alert (once each) approvals waiting longer than the limit; returns how many were newly alerted."""
        minutes = self.config.alerts.approval_wait_minutes
        if minutes <= 0 or not self.configured:
            return 0
        now = self.clock.now()
        rows = await ApprovalStore(self.db, self.clock).waiting_since(iso(now - timedelta(minutes=minutes)))
        # Swept at every run start and finish: those alerted already are found by a read, and only new ones
        # are claimed, in one transaction (a night's 400 waiting requests were 400 write transactions a sweep).
        keys = {_approval_wait_key(row["id"]): row for row in rows}
        for chunk in _chunks(list(keys), 500):
            marks = ", ".join("?" for _ in chunk)
            for done in await self.db.fetch_all(f"SELECT key FROM effects WHERE key IN ({marks})", chunk):
                del keys[done["key"]]
        fresh = []
        if keys:
            async with self.db.write() as tx:
                for key, row in keys.items():  # another process may claim one first: it alerts that one
                    claimed = await tx.insert(
                        "INSERT INTO effects (key, workflow, action, target, period, status, created_at, done_at) "
                        "VALUES (?, 'alerts', 'approval_wait', ?, 'once', 'done', ?, ?) ON CONFLICT (key) DO NOTHING",
                        [key, f"approval-{row['id']}", iso(now), iso(now)])
                    if claimed is not None:
                        fresh.append(row)
        if not fresh:
            return 0
        parts = []
        for row in fresh[:3]:
            requested = datetime.fromisoformat(row["requested_at"]).replace(tzinfo=UTC)
            waited = int((now - requested).total_seconds() // 60)
            parts.append(f"#{row['id']} {row['title']} ({self._title(row['workflow'])}, {waited} min)")
        more = f" and {len(fresh) - 3} more" if len(fresh) > 3 else ""
        line = (f"gymconsole: {len(fresh)} approval{'s' * (len(fresh) != 1)} waiting over {minutes:g} min: "
                + "; ".join(parts) + more)
        await self.send(_cut(line, MAX_LINE - 80) + f" ({await self._counts()})")
        return len(fresh)

    async def send(self, line: str) -> bool:
        """Send one alert line to every configured channel; True if at least one took it. Never raises."""
        line = header_safe(line, MAX_LINE)  # names, titles and errors in it are untrusted
        a = self.config.alerts
        delivered = False
        webhook = secret(a.slack_webhook_env)
        if webhook:
            try:
                await http_json("POST", webhook, {"text": line}, peer="the alert webhook", timeout=a.timeout_seconds)
                delivered = True
            except DeliveryError as exc:
                log.warning("alert webhook failed: %s", scrub(exc.reason, webhook))
            except ValueError:  # not a usable URL; never echo it, it is a secret
                log.warning("alert webhook failed: %s does not hold an http(s) URL", a.slack_webhook_env)
        if a.email_to:
            smtp = SmtpSender.from_config(self.config)
            subject = _cut(line.removeprefix("gymconsole: "), 100)
            stamp = iso(self.clock.now())
            for address in a.email_to:
                try:
                    await smtp.send(Email(address, f"gymconsole alert: {subject}", line,
                                          smtp.message_id_for(f"alert:{stamp}:{line}:{address}"), self.clock.now()))
                    delivered = True
                except DeliveryError as exc:
                    log.warning("alert email failed: %s", exc.reason)
        if delivered:
            self.sent.append(line)
            log.info("alert sent: %s", line)
        return delivered


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _approval_wait_key(approval_id: int) -> str:
    """The effects-ledger key that says an approval's long wait was alerted (once)."""
    return f"alerts:approval_wait:approval-{approval_id}:once"


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
