"""Pacing, quiet hours and opt-outs, on the fake clock (the peer is a recording sender, no network needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from helpers_delivery import contactable_members, queue_messages, statuses, with_delivery, with_quiet_hours

from gymconsole.delivery import outbox
from gymconsole.delivery.sender import OutboxSender


class Peer:
    """Stands in for the SMTP server / gateway: records what it was given (the adapters have their own tests)."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.sent: list[tuple[int, datetime]] = []

    async def __call__(self, row: dict[str, Any]) -> None:
        self.sent.append((row["id"], self.clock.now()))


def _sender(db, config, clock, peer, channel: str = "sms", **delivery):  # type: ignore[no-untyped-def]
    cfg = with_delivery(config, **delivery)
    return OutboxSender(db, cfg, clock, **{channel: peer})


async def test_the_hourly_drip_rate_spreads_sends_over_hours(demo_db, config, clock) -> None:
    peer = Peer(clock)
    sender = _sender(demo_db, config, clock, peer, sms_pacing={"per_hour": 3, "per_day": 100})
    await queue_messages(demo_db, clock, await contactable_members(demo_db, 7, column="phone"), channel="sms")
    first = await sender.drain_once()
    assert first.sent == 3 and first.waiting == {"sms": "sms: 3 per hour reached"}
    assert first.next_due == datetime(2026, 11, 2, 16, 0, 1, tzinfo=UTC)
    clock.advance(1800)
    assert (await sender.drain_once()).sent == 0
    total = await sender.drain(until_idle=True)
    assert total.sent == 4 and total.next_due is None
    hours = [moment.hour for _, moment in peer.sent]
    assert hours == [15, 15, 15, 16, 16, 16, 17]


async def test_the_daily_cap_waits_for_the_next_local_day(demo_db, config, clock) -> None:
    peer = Peer(clock)
    sender = _sender(demo_db, config, clock, peer, channel="email", email_pacing={"per_hour": 100, "per_day": 4})
    await queue_messages(demo_db, clock, await contactable_members(demo_db, 6))
    report = await sender.drain_once()
    assert report.sent == 4 and report.waiting == {"email": "email: daily cap of 4 reached"}
    # midnight in New York (EST, UTC-5) on 3 November
    assert report.next_due == datetime(2026, 11, 3, 5, 0, tzinfo=UTC)
    await sender.drain(until_idle=True)
    # midnight is in quiet hours: the rest go at 08:00 New York time
    assert clock.sleeps == [14 * 3600, 8 * 3600]
    assert [m.strftime("%d %H:%M") for _, m in peer.sent][-2:] == ["03 13:00", "03 13:00"]


async def test_nothing_is_sent_in_quiet_hours(demo_db, config, clock) -> None:
    peer = Peer(clock)
    clock.set(datetime(2026, 11, 3, 2, 30, tzinfo=UTC))  # 21:30 in New York
    cfg = with_quiet_hours(config, 21, 8)
    sender = OutboxSender(demo_db, with_delivery(cfg), clock, sms=peer)
    ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 2, column="phone"), channel="sms")
    report = await sender.drain_once()
    assert report.sent == 0 and peer.sent == []
    assert report.waiting == {"sms": "quiet hours (21:00-8:00)"}
    assert report.next_due == datetime(2026, 11, 3, 13, 0, tzinfo=UTC)  # 08:00 in New York
    await sender.drain(until_idle=True)
    assert [m for _, m in peer.sent] == [datetime(2026, 11, 3, 13, 0, tzinfo=UTC)] * 2
    assert all(r["status"] == "sent" for r in (await statuses(demo_db, ids)).values())


async def test_an_opted_out_person_is_never_sent_to(demo_db, config, clock) -> None:
    peer = Peer(clock)
    people = await contactable_members(demo_db, 3, column="phone")
    ids = await queue_messages(demo_db, clock, people, channel="sms")
    async with demo_db.write() as tx:
        await tx.execute("UPDATE members SET opted_out = 1 WHERE id = ?", [people[1]["id"]])
    report = await _sender(demo_db, config, clock, peer).drain_once()
    rows = await statuses(demo_db, ids)
    assert (report.sent, report.opted_out) == (2, 1)
    assert rows[ids[1]]["status"] == "failed" and rows[ids[1]]["last_error"] == "opted out"
    assert [i for i, _ in peer.sent] == [ids[0], ids[2]]


async def test_a_queued_notice_that_no_longer_applies_is_not_sent(demo_db, config, clock) -> None:
    """Notices can wait hours (quiet hours, pacing): one to a member who since cancelled or paid never goes out."""
    peer = Peer(clock)
    people = await demo_db.fetch_all(
        "SELECT id, first_name, email, phone FROM members WHERE status = 'active' AND balance_cents > 0 "
        "AND past_due_since IS NOT NULL AND opted_out = 0 AND phone IS NOT NULL ORDER BY id LIMIT 3")
    ids = await queue_messages(demo_db, clock, people, channel="sms", kind="reminder")
    async with demo_db.write() as tx:
        await tx.execute("UPDATE members SET status = 'cancelled' WHERE id = ?", [people[0]["id"]])
        await tx.execute("UPDATE members SET balance_cents = 0, past_due_since = NULL WHERE id = ?", [people[1]["id"]])
    report = await _sender(demo_db, config, clock, peer).drain_once()
    rows = await statuses(demo_db, ids)
    assert (report.sent, report.withdrawn) == (1, 2)
    assert rows[ids[0]]["last_error"] == "no longer applies: the member is cancelled"
    assert rows[ids[1]]["last_error"] == "no longer applies: the member is no longer past due"
    assert [i for i, _ in peer.sent] == [ids[2]]


async def test_a_stop_reply_opts_the_number_out_and_fails_its_queue(demo_db, config, clock) -> None:
    person = (await contactable_members(demo_db, 1, column="phone"))[0]
    same_number = await demo_db.fetch_all("SELECT id FROM members WHERE phone = ? ORDER BY id", [person["phone"]])
    async with demo_db.write() as tx:
        prospect_id = await tx.insert(
            "INSERT INTO prospects (first_name, last_name, phone, source, stage, created_at) "
            "VALUES ('Pat', 'Lee', ?, 'walk-in', 'new', '2026-10-01T12:00:00')", [person["phone"]])
    ids = await queue_messages(demo_db, clock, [person], channel="sms")
    ids += await queue_messages(demo_db, clock, [person], channel="email", kind="final_notice")
    prospect_msg = await queue_messages(demo_db, clock, [{"id": prospect_id, "first_name": "Pat", "email": None,
                                                          "phone": person["phone"]}], channel="sms",
                                        person_kind="prospect")
    other = await queue_messages(demo_db, clock, await demo_db.fetch_all(
        "SELECT id, first_name, email, phone FROM members WHERE phone IS NOT NULL AND phone != ? AND opted_out = 0 "
        "LIMIT 1", [person["phone"]]), channel="sms")
    # the gateway's webhook passes the number as the carrier wrote it
    digits = person["phone"][-10:]
    reply = await outbox.record_stop_reply(demo_db, clock, f"({digits[:3]}) {digits[3:6]}-{digits[6:]}")
    assert reply.members == [r["id"] for r in same_number] and reply.prospects == [prospect_id]
    assert reply.failed_messages == 3
    rows = await statuses(demo_db, ids + prospect_msg + other)
    assert [rows[i]["status"] for i in ids + prospect_msg] == ["failed"] * 3
    assert {rows[i]["last_error"] for i in ids + prospect_msg} == {"opted out"}
    assert rows[other[0]]["status"] == "queued"
    assert await demo_db.fetch_value("SELECT opted_out FROM members WHERE id = ?", [person["id"]]) == 1
    assert await demo_db.fetch_value("SELECT opted_out FROM prospects WHERE id = ?", [prospect_id]) == 1
    nobody = await outbox.record_stop_reply(demo_db, clock, "+1 999 000 1234")
    assert not nobody.matched and nobody.failed_messages == 0


async def test_a_row_left_sending_by_a_dead_process_is_resent(demo_db, config, clock) -> None:
    peer = Peer(clock)
    ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 2, column="phone"), channel="sms")
    async with demo_db.write() as tx:  # a process that no longer exists claimed the first one
        await tx.execute("UPDATE outbox SET status = 'sending', attempts = 1, claimed_at = ?, claimed_by = ? "
                         "WHERE id = ?", ["2026-11-02T14:59:00", f"{outbox.owner_id().rpartition(':')[0]}:999999999",
                                          ids[0]])
        # and one on another host, silent for longer than stale_claim_seconds
        await tx.execute("UPDATE outbox SET status = 'sending', attempts = 1, claimed_at = ?, claimed_by = ? "
                         "WHERE id = ?", ["2026-11-02T14:40:00", "elsewhere:12", ids[1]])
    sender = _sender(demo_db, config, clock, peer, stale_claim_seconds=1800)
    report = await sender.drain_once()
    assert report.reconciled == 1 and [i for i, _ in peer.sent] == [ids[0]]
    clock.advance(600)
    report = await sender.drain_once()
    assert report.reconciled == 1 and [i for i, _ in peer.sent] == [ids[0], ids[1]]
    rows = await statuses(demo_db, ids)
    assert [rows[i]["attempts"] for i in ids] == [2, 2] and all(rows[i]["status"] == "sent" for i in ids)


async def test_backoff_doubles_up_to_the_cap() -> None:
    from gymconsole.config import Config
    from gymconsole.delivery.outbox import backoff_seconds

    cfg = Config.model_validate({"delivery": {"retry_base_seconds": 10, "retry_max_seconds": 50}})
    assert [backoff_seconds(cfg, n) for n in range(1, 6)] == [10, 20, 40, 50, 50]
