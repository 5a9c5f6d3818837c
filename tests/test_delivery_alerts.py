"""Alerts and the DeliveryService bus subscriber: a real EventBus, a webhook and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from helpers_delivery import contactable_members, queue_messages, smtp_settings, statuses, with_alerts, with_delivery
from servers import Answer, JsonServer, SmtpRecorder, closed_port, start_smtp

from gymconsole.delivery.service import DeliveryService
from gymconsole.engine.events import ApprovalRequested, EventBus, RunFinished, RunStarted

WEBHOOK_SECRET_PATH = "/services/T000/B000/xoxsecret"


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[JsonServer]:
    server = JsonServer().start()
    monkeypatch.setenv("GYMCONSOLE_SLACK_WEBHOOK", server.url + WEBHOOK_SECRET_PATH)
    try:
        yield server
    finally:
        server.close()


async def _run(db, workflow: str, status: str, started_at: str = "2026-11-02T14:00:00") -> int:  # type: ignore[no-untyped-def]
    async with db.write() as tx:
        return await tx.insert("INSERT INTO runs (workflow, trigger, mode, status, started_at) "
                               "VALUES (?, 'schedule', 'offline', ?, ?)", [workflow, status, started_at])


async def _approval(db, requested_at: str, status: str = "pending") -> int:  # type: ignore[no-untyped-def]
    async with db.write() as tx:
        return await tx.insert(
            "INSERT INTO approvals (workflow, tool, risk, title, plan, status, requested_at) "
            "VALUES ('door_access', 'suspend_door_access', 'high', 'Suspend door access: 3 targets', '{}', ?, ?)",
            [status, requested_at])


async def _emit(service: DeliveryService, *events) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    bus.subscribe(service)
    for event in events:
        await bus.emit(event)
    await service.idle()


async def test_a_failed_run_posts_one_line_with_counts(demo_db, config, clock, webhook) -> None:
    await _run(demo_db, "daily_campaigns", "failed", "2026-11-02T09:00:00")
    await _run(demo_db, "daily_campaigns", "failed", "2026-11-01T09:00:00")  # over 24 h ago
    run_id = await _run(demo_db, "door_access", "failed")
    await _approval(demo_db, "2026-11-02T14:55:00", "asking")
    service = DeliveryService(db=demo_db, config=config, clock=clock)
    await _emit(service, RunStarted(run_id, "door_access"),
                RunFinished(run_id, "door_access", status="failed", error="the model API answered 529\ntwice"))
    assert [r.json for r in webhook.requests] == [{"text": (
        f"gymconsole: Door access run #{run_id} failed: the model API answered 529 twice "
        "(last 24 h: 2 failed runs, 1 approval waiting, 0 messages failed)")}]
    await service.aclose()


@pytest.mark.parametrize("status", ["succeeded", "cancelled", "awaiting_approval"])
async def test_no_alert_for_a_run_that_did_not_fail(demo_db, config, clock, webhook, status) -> None:
    service = DeliveryService(db=demo_db, config=config, clock=clock)
    await _emit(service, RunFinished(3, "door_access", status=status))
    assert webhook.requests == []


async def test_budget_exhausted_is_alerted_and_on_failure_false_silences_it(demo_db, config, clock, webhook) -> None:
    service = DeliveryService(db=demo_db, config=config, clock=clock)
    await _emit(service, RunFinished(4, "invoice_review", status="budget_exhausted", summary="stopped at $0.50"))
    assert webhook.requests[0].json["text"].startswith(
        "gymconsole: Monthly invoice review run #4 ran out of budget: stopped at $0.50 (last 24 h:")
    quiet = DeliveryService(db=demo_db, config=with_alerts(config, on_failure=False), clock=clock)
    await _emit(quiet, RunFinished(5, "invoice_review", status="failed"))
    assert len(webhook.requests) == 1


async def test_an_approval_waiting_too_long_is_alerted_once(demo_db, config, clock, webhook) -> None:
    old = await _approval(demo_db, "2026-11-02T13:30:00")
    await _approval(demo_db, "2026-11-02T14:30:00")  # 30 min: not yet
    await _approval(demo_db, "2026-11-02T10:00:00", status="done")
    service = DeliveryService(db=demo_db, config=config, clock=clock)
    await _emit(service, RunStarted(8, "past_due_monitoring"))
    await _emit(service, RunFinished(8, "past_due_monitoring", status="succeeded"))
    assert [r.json["text"] for r in webhook.requests] == [
        f"gymconsole: 1 approval waiting over 60 min: #{old} Suspend door access: 3 targets (Door access, 90 min) "
        "(last 24 h: 0 failed runs, 2 approvals waiting, 0 messages failed)"]
    clock.advance(3600)
    await _emit(service, ApprovalRequested(9, "door_access", approval_id=99))
    assert len(webhook.requests) == 2 and "1 approval waiting over 60 min: #" in webhook.requests[1].json["text"]
    await _emit(service, RunStarted(10, "door_access"))
    assert len(webhook.requests) == 2


async def test_approvals_alerted_already_cost_a_sweep_no_write(demo_db, config, clock, webhook, demo_path) -> None:
    """The sweep runs at every run start and finish; with a night's requests waiting, each already alerted, it
    reads and leaves: another process holding the write lock does not hold it up."""
    import asyncio
    import sqlite3

    for _ in range(600):  # more than one chunk of the alerted-already lookup
        await _approval(demo_db, "2026-11-02T12:00:00")
    service = DeliveryService(db=demo_db, config=config, clock=clock)
    assert await service.alerts.check_waiting_approvals() == 600
    assert "600 approvals waiting over 60 min" in webhook.requests[0].json["text"]
    writer = sqlite3.connect(demo_path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # the service's run, say, in the middle of a transaction
        assert await asyncio.wait_for(service.alerts.check_waiting_approvals(), timeout=10) == 0
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    newest = await _approval(demo_db, "2026-11-02T12:30:00")
    assert await service.alerts.check_waiting_approvals() == 1  # a new one is still alerted, once
    assert f"#{newest} " in webhook.requests[-1].json["text"] and len(webhook.requests) == 2


@pytest.mark.parametrize("answer", [Answer(500, {"error": "slack down"}), Answer(200, delay=1.0)])
async def test_a_failing_webhook_is_logged_and_never_raises(demo_db, config, clock, webhook, answer, caplog) -> None:
    webhook.script(answer)
    service = DeliveryService(db=demo_db, config=with_alerts(config, timeout_seconds=0.2), clock=clock)
    with caplog.at_level(logging.WARNING, logger="gymconsole.delivery.alerts"):
        await _emit(service, RunFinished(4, "door_access", status="failed", error="boom"))
    assert service.alerts.sent == []
    [record] = [r for r in caplog.records if r.name == "gymconsole.delivery.alerts"]
    assert record.getMessage().startswith("alert webhook failed: the alert webhook ")
    assert WEBHOOK_SECRET_PATH not in caplog.text and "xoxsecret" not in caplog.text


async def test_an_unreachable_webhook_is_logged(demo_db, config, clock, monkeypatch, caplog) -> None:
    monkeypatch.setenv("GYMCONSOLE_SLACK_WEBHOOK", f"http://127.0.0.1:{closed_port()}{WEBHOOK_SECRET_PATH}")
    service = DeliveryService(db=demo_db, config=config, clock=clock)
    await _emit(service, RunFinished(4, "door_access", status="failed"))
    assert "alert webhook failed: cannot reach the alert webhook: connection refused" in caplog.text
    assert "xoxsecret" not in caplog.text


async def test_alerts_by_email(demo_db, config, clock, monkeypatch) -> None:
    monkeypatch.delenv("GYMCONSOLE_SLACK_WEBHOOK", raising=False)
    recorder = SmtpRecorder()
    controller = start_smtp(recorder)
    try:
        cfg = with_delivery(config, smtp=smtp_settings(controller.port))
        cfg = with_alerts(cfg, email_to=["manager@gym.test", "owner@gym.test"])
        service = DeliveryService(db=demo_db, config=cfg, clock=clock)
        await _emit(service, RunFinished(4, "referral_check", status="failed", error="boom"))
    finally:
        controller.stop()
    assert [m.to for m in recorder.messages] == [["manager@gym.test"], ["owner@gym.test"]]
    assert recorder.messages[0].subject.startswith("gymconsole alert: Referral rewards run #4 failed: boom")
    assert recorder.messages[0].body.strip() == service.alerts.sent[0]


async def test_no_alert_channel_configured_means_no_work(demo_db, config, clock, monkeypatch) -> None:
    monkeypatch.delenv("GYMCONSOLE_SLACK_WEBHOOK", raising=False)
    service = DeliveryService(db=demo_db, config=config, clock=clock)
    await _approval(demo_db, "2026-11-01T00:00:00")
    await _emit(service, RunFinished(4, "door_access", status="failed"))
    assert service.alerts.sent == []
    assert await demo_db.fetch_value("SELECT COUNT(*) FROM effects WHERE workflow = 'alerts'") == 0


async def test_a_finished_run_drains_the_outbox_in_the_background(demo_db, config, clock, monkeypatch) -> None:
    monkeypatch.delenv("GYMCONSOLE_SLACK_WEBHOOK", raising=False)
    recorder = SmtpRecorder()
    controller = start_smtp(recorder)
    try:
        cfg = with_delivery(config, email="smtp", smtp=smtp_settings(controller.port))
        ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 3))
        service = DeliveryService(db=demo_db, config=cfg, clock=clock)
        await _emit(service, RunFinished(4, "past_due_monitoring", status="succeeded"))
        more = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1), kind="final_notice")
        bus = EventBus()
        bus.subscribe(service)
        await bus.emit(RunFinished(5, "past_due_monitoring", status="succeeded"))
        await service.aclose()
        late = await queue_messages(demo_db, clock, await contactable_members(demo_db, 2), kind="late")
        await bus.emit(RunFinished(6, "past_due_monitoring", status="succeeded"))
        await service.idle()
    finally:
        controller.stop()
    rows = await statuses(demo_db, ids + more + late)
    assert [rows[i]["status"] for i in ids + more] == ["sent"] * 4
    assert [rows[i]["status"] for i in late] == ["queued"] * 2  # closed: no new work
    assert len(recorder.messages) == 4 and service.last_drain is not None
    assert clock.sleeps == []  # the service never sleeps on the (fake) clock


async def test_closing_never_cuts_a_message_off_mid_send(demo_db, config, clock, monkeypatch) -> None:
    import asyncio

    from gymconsole.delivery.sender import OutboxSender

    monkeypatch.delenv("GYMCONSOLE_SLACK_WEBHOOK", raising=False)
    sent: list[int] = []
    service: DeliveryService

    async def peer(row: dict) -> None:  # type: ignore[type-arg]
        if len(sent) == 2:  # the third message is mid-send when the close gives up waiting for the drain
            while not service._stop_drain:
                await asyncio.sleep(0.005)
        sent.append(row["id"])

    ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 30))
    service = DeliveryService(db=demo_db, config=config, clock=clock,
                              sender=OutboxSender(demo_db, config, clock, email=peer))
    bus = EventBus()
    bus.subscribe(service)
    await bus.emit(RunFinished(4, "past_due_monitoring", status="succeeded"))
    await service.aclose(timeout=0.5)
    rows = await statuses(demo_db, ids)
    counts = {s: sum(1 for r in rows.values() if r["status"] == s) for s in ("sent", "queued", "sending")}
    assert counts == {"sent": 3, "queued": 27, "sending": 0}  # the third finished; none cut off, none left sending
    assert sorted(sent) == sorted(i for i in ids if rows[i]["status"] == "sent")
