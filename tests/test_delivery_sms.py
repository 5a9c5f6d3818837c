"""SMS delivery against a real HTTP gateway on 127.0.0.1: success, retries, refusals, timeouts, secrets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_delivery import contactable_members, queue_messages, statuses, with_delivery
from servers import Answer, JsonServer, closed_port

from gymconsole.delivery.sender import OutboxSender
from gymconsole.delivery.sms import idempotency_key

TOKEN = "sms-token-7f3a9c"


@pytest.fixture
def gateway() -> Iterator[JsonServer]:
    server = JsonServer(dedupe=True).start()
    try:
        yield server
    finally:
        server.close()


def _config(config, url: str, **extra):  # type: ignore[no-untyped-def]
    return with_delivery(config, sms="gateway", sms_gateway={"url": url, "from_number": "+15550009999",
                                                              "timeout_seconds": 2.0, **extra})


async def test_each_text_is_posted_once_with_token_and_idempotency_key(demo_db, config, clock, gateway,
                                                                         monkeypatch) -> None:
    monkeypatch.setenv("GYMCONSOLE_SMS_TOKEN", TOKEN)
    cfg = _config(config, gateway.url + "/v1/messages")
    people = await contactable_members(demo_db, 2, column="phone")
    ids = await queue_messages(demo_db, clock, people, channel="sms")
    report = await OutboxSender(demo_db, cfg, clock).drain_once()
    assert report.sent == 2 and len(gateway.requests) == 2
    rows = await statuses(demo_db, ids)
    first = gateway.requests[0]
    assert (first.method, first.path) == ("POST", "/v1/messages")
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.headers["idempotency-key"] == idempotency_key(rows[ids[0]]["effect_key"])
    assert first.json == {"to": people[0]["phone"], "body": f"Hi {people[0]['first_name']}, a note from the gym.",
                          "reference": f"outbox-{ids[0]}", "from": "+15550009999"}
    assert all(rows[i]["status"] == "sent" for i in ids)


async def test_a_500_is_retried_after_the_backoff_and_sent_once(demo_db, config, clock, gateway) -> None:
    gateway.script(Answer(500, {"error": "upstream carrier down"}))
    cfg = _config(config, gateway.url)
    ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1, column="phone"), channel="sms")
    report = await OutboxSender(demo_db, cfg, clock).drain(until_idle=True)
    row = (await statuses(demo_db, ids))[ids[0]]
    assert clock.sleeps == [60.0]
    assert (report.sent, report.retrying) == (1, 1) and row["status"] == "sent" and row["attempts"] == 2
    assert len(gateway.requests) == 2 and len(gateway.delivered) == 1
    assert gateway.requests[0].headers["idempotency-key"] == gateway.requests[1].headers["idempotency-key"]


async def test_a_400_fails_the_message_with_the_reason(demo_db, config, clock, gateway) -> None:
    gateway.script(Answer(400, {"error": "invalid destination number"}))
    cfg = _config(config, gateway.url)
    ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1, column="phone"), channel="sms")
    report = await OutboxSender(demo_db, cfg, clock).drain(until_idle=True)
    row = (await statuses(demo_db, ids))[ids[0]]
    assert report.failed == 1 and clock.sleeps == [] and row["status"] == "failed" and row["attempts"] == 1
    assert row["last_error"] == 'the SMS gateway answered HTTP 400: {"error": "invalid destination number"}'


async def test_a_slow_gateway_times_out_and_is_retried(demo_db, config, clock, gateway) -> None:
    gateway.script(Answer(200, delay=1.0))
    cfg = _config(config, gateway.url, timeout_seconds=0.1)
    ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1, column="phone"), channel="sms")
    report = await OutboxSender(demo_db, cfg, clock).drain_once()
    row = (await statuses(demo_db, ids))[ids[0]]
    assert report.retrying == 1 and row["status"] == "queued"
    assert row["last_error"] in ("the SMS gateway did not answer within 0.1 s",
                                 "cannot reach the SMS gateway: timed out")


async def test_a_refused_connection_is_retried_then_failed(demo_db, config, clock) -> None:
    cfg = with_delivery(config, sms="gateway", sms_gateway={"url": f"http://127.0.0.1:{closed_port()}/send"},
                        max_attempts=2)
    ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1, column="phone"), channel="sms")
    report = await OutboxSender(demo_db, cfg, clock).drain(until_idle=True)
    row = (await statuses(demo_db, ids))[ids[0]]
    assert report.failed == 1 and row["attempts"] == 2 and clock.sleeps == [60.0]
    assert row["last_error"] == "cannot reach the SMS gateway: connection refused (gave up after 2 attempts)"


async def test_the_token_never_reaches_the_database_or_a_redirect_target(demo_db, config, clock, gateway,
                                                                          monkeypatch) -> None:
    monkeypatch.setenv("GYMCONSOLE_SMS_TOKEN", TOKEN)
    other = JsonServer().start()
    try:
        gateway.script(Answer(401, {"error": f"bad token {TOKEN}"}),
                       Answer(302, {"moved": True}, headers={"Location": other.url + "/steal"}))
        cfg = _config(config, gateway.url)
        people = await contactable_members(demo_db, 2, column="phone")
        ids = await queue_messages(demo_db, clock, people, channel="sms")
        await OutboxSender(demo_db, cfg, clock).drain_once()
    finally:
        other.close()
    rows = await statuses(demo_db, ids)
    assert rows[ids[0]]["last_error"] == 'the SMS gateway answered HTTP 401: {"error": "bad token ***"}'
    assert rows[ids[1]]["status"] == "failed" and "HTTP 302" in rows[ids[1]]["last_error"]
    assert other.requests == []
    dump = str(await demo_db.fetch_all("SELECT * FROM outbox"))
    assert TOKEN not in dump and gateway.url not in dump


async def test_messages_of_a_channel_left_in_outbox_mode_stay_queued(demo_db, config, clock, gateway) -> None:
    cfg = _config(config, gateway.url)  # email stays "outbox"
    people = await contactable_members(demo_db, 1)
    emails = await queue_messages(demo_db, clock, people, channel="email")
    texts = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1, column="phone"), channel="sms")
    report = await OutboxSender(demo_db, cfg, clock).drain(until_idle=True)
    rows = await statuses(demo_db, emails + texts)
    assert report.sent == 1 and report.next_due is None
    assert rows[emails[0]]["status"] == "queued" and rows[texts[0]]["status"] == "sent"
    assert not OutboxSender(demo_db, config, clock).enabled


async def test_a_gateway_that_is_down_is_not_hammered(demo_db, config, clock) -> None:
    cfg = with_delivery(config, sms="gateway", sms_gateway={"url": f"http://127.0.0.1:{closed_port()}/send"})
    ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 10, column="phone"), channel="sms")
    report = await OutboxSender(demo_db, cfg, clock).drain_once()
    rows = await statuses(demo_db, ids)
    assert report.retrying == 3 and [rows[i]["attempts"] for i in ids] == [1, 1, 1] + [0] * 7
    assert report.waiting == {"sms": "sms: 3 failures in a row, paused until a retry"}
    assert report.next_due is not None and (report.next_due - clock.now()).total_seconds() == 60
