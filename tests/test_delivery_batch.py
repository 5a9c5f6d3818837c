"""The outbox sends in batches: one SMTP session per batch, pipelined where offered, two transactions per batch.

Faults against a real SMTP server (aiosmtpd on 127.0.0.1): a server that cuts
the connection mid-batch, one that refuses one recipient in a batch.  A
sender killed with SIGKILL mid-batch is in ``test_delivery_crash.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_delivery import contactable_members, queue_messages, smtp_settings, statuses, with_delivery
from servers import SmtpRecorder, start_smtp

from gymconsole.delivery.email import message_id
from gymconsole.delivery.sender import OutboxSender


@pytest.fixture
def server() -> Iterator[tuple[SmtpRecorder, int]]:
    recorder = SmtpRecorder()
    controller = start_smtp(recorder)
    try:
        yield recorder, controller.port
    finally:
        controller.stop()


async def commits_during(db) -> list[str]:  # type: ignore[no-untyped-def]
    """Every COMMIT the shared connection runs from now on (the real statements, traced by SQLite)."""
    seen: list[str] = []
    await db._conn.set_trace_callback(lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None)
    return seen


@pytest.mark.parametrize("pipelining", [True, False])
async def test_a_batch_is_one_session_and_two_transactions(demo_db, config, clock, server, pipelining) -> None:
    recorder, port = server
    recorder.pipelining = pipelining
    cfg = with_delivery(config, email="smtp", smtp=smtp_settings(port))
    ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 25))
    commits = await commits_during(demo_db)
    report = await OutboxSender(demo_db, cfg, clock).drain_once()
    await demo_db._conn.set_trace_callback(None)
    assert (report.sent, report.failed, report.retrying) == (25, 0, 0)
    assert recorder.sessions == 1
    assert len(commits) == 2  # the claim, and the outcome: not one per message
    rows = await statuses(demo_db, ids)
    assert all(rows[i]["status"] == "sent" and rows[i]["attempts"] == 1 for i in ids)
    assert recorder.message_ids() == [message_id(rows[i]["effect_key"], "desk@gym.test") for i in ids]
    assert not list(demo_db.path.parent.glob("*.outbox-*.sent"))  # the journal is gone once recorded


@pytest.mark.parametrize("pipelining", [True, False])
async def test_one_refused_recipient_fails_alone_and_the_session_goes_on(demo_db, config, clock, server,
                                                                         pipelining) -> None:
    recorder, port = server
    recorder.pipelining = pipelining
    people = await contactable_members(demo_db, 6)
    recorder.refuse = {people[2]["email"]: "550 no such user"}
    cfg = with_delivery(config, email="smtp", smtp=smtp_settings(port))
    ids = await queue_messages(demo_db, clock, people)
    report = await OutboxSender(demo_db, cfg, clock).drain_once()
    assert (report.sent, report.failed, report.retrying) == (5, 1, 0)
    assert recorder.sessions == 1
    rows = await statuses(demo_db, ids)
    assert [rows[i]["status"] for i in ids] == ["sent", "sent", "failed", "sent", "sent", "sent"]
    assert "550 no such user" in rows[ids[2]]["last_error"]
    assert [m.to for m in recorder.messages] == [[p["email"]] for i, p in enumerate(people) if i != 2]


@pytest.mark.parametrize("pipelining", [True, False])
async def test_a_connection_cut_mid_batch_loses_nothing_and_sends_nothing_twice(demo_db, config, clock, server,
                                                                                 pipelining) -> None:
    recorder, port = server
    recorder.pipelining = pipelining
    recorder.drop_at = 3
    cfg = with_delivery(config, email="smtp", smtp=smtp_settings(port))
    ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 6))
    first = await OutboxSender(demo_db, cfg, clock).drain_once()
    rows = await statuses(demo_db, ids)
    # two went; the third is retried later; the rest went back to the queue in the next session
    assert rows[ids[2]]["status"] == "queued" and rows[ids[2]]["attempts"] == 1
    assert "closed the connection" in rows[ids[2]]["last_error"]
    assert (first.sent, first.retrying) == (5, 1)
    assert [rows[i]["attempts"] for i in ids] == [1, 1, 1, 1, 1, 1]
    clock.advance(cfg.delivery.retry_base_seconds + 1)
    second = await OutboxSender(demo_db, cfg, clock).drain_once()
    assert second.sent == 1
    rows = await statuses(demo_db, ids)
    assert all(rows[i]["status"] == "sent" for i in ids)
    received = recorder.message_ids()
    assert sorted(received) == sorted(message_id(rows[i]["effect_key"], "desk@gym.test") for i in ids)
    assert recorder.sessions == 3  # the cut session, the rest of the batch, the retry
