"""Email delivery against real SMTP servers on 127.0.0.1 (aiosmtpd): plain, STARTTLS+AUTH, implicit TLS, failures."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers_delivery import contactable_members, queue_messages, smtp_settings, statuses, with_delivery
from servers import SmtpRecorder, closed_port, make_certificate, server_tls, start_smtp

from gymconsole.delivery.email import message_id
from gymconsole.delivery.sender import OutboxSender

PASSWORD = "s3cret-smtp-pa55"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    made = make_certificate(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("the openssl CLI is not installed: TLS tests need a self-signed certificate")
    return made


@pytest.fixture
def recorder() -> Iterator[SmtpRecorder]:
    yield SmtpRecorder()


def _start(recorder: SmtpRecorder, **kwargs):  # type: ignore[no-untyped-def]
    controller = start_smtp(recorder, **kwargs)
    return controller


async def test_plain_smtp_sends_each_message_once_with_a_stable_message_id(demo_db, config, clock, recorder) -> None:
    controller = _start(recorder)
    try:
        cfg = with_delivery(config, email="smtp", smtp=smtp_settings(controller.port))
        people = await contactable_members(demo_db, 3)
        ids = await queue_messages(demo_db, clock, people)
        report = await OutboxSender(demo_db, cfg, clock).drain_once()
        again = await OutboxSender(demo_db, cfg, clock).drain_once()
    finally:
        controller.stop()
    assert (report.sent, report.failed, again.sent) == (3, 0, 0)
    rows = await statuses(demo_db, ids)
    assert [rows[i]["status"] for i in ids] == ["sent"] * 3
    assert all(rows[i]["attempts"] == 1 and rows[i]["sent_at"] == "2026-11-02T15:00:00" for i in ids)
    assert [m.to for m in recorder.messages] == [[p["email"]] for p in people]
    expected = [message_id(rows[i]["effect_key"], "desk@gym.test") for i in ids]
    assert recorder.message_ids() == expected
    assert recorder.messages[0].subject == "Your account"
    assert recorder.messages[0].body.startswith(f"Hi {people[0]['first_name']},")
    assert recorder.messages[0].sender == "desk@gym.test"


async def test_starttls_with_login_and_a_self_signed_certificate(demo_db, config, clock, recorder, certificate,
                                                                  monkeypatch) -> None:
    cert, key = certificate
    controller = _start(recorder, tls=server_tls(cert, key), logins={"desk": PASSWORD})
    monkeypatch.setenv("GYMCONSOLE_SMTP_USER", "desk")
    monkeypatch.setenv("GYMCONSOLE_SMTP_PASSWORD", PASSWORD)
    try:
        cfg = with_delivery(config, email="smtp", smtp=smtp_settings(controller.port, security="starttls",
                                                                      ca_file=str(cert)))
        ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 2))
        report = await OutboxSender(demo_db, cfg, clock).drain_once()
        assert report.sent == 2 and len(recorder.messages) == 2

        monkeypatch.setenv("GYMCONSOLE_SMTP_PASSWORD", "wrong-" + PASSWORD)
        more = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1), kind="final_notice")
        report = await OutboxSender(demo_db, cfg, clock).drain_once()
    finally:
        controller.stop()
    assert (report.sent, report.retrying) == (0, 1)
    row = (await statuses(demo_db, more))[more[0]]
    assert row["status"] == "queued" and row["attempts"] == 1
    assert "refused the login (535)" in row["last_error"]
    assert PASSWORD not in row["last_error"] and row["next_attempt_at"] == "2026-11-02T15:01:00"
    assert len(recorder.messages) == 2 and ids


async def test_server_requiring_starttls_refuses_a_plain_client(demo_db, config, clock, recorder, certificate) -> None:
    cert, key = certificate
    controller = _start(recorder, tls=server_tls(cert, key))
    try:
        cfg = with_delivery(config, email="smtp", smtp=smtp_settings(controller.port, security="none"))
        ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1))
        report = await OutboxSender(demo_db, cfg, clock).drain_once()
    finally:
        controller.stop()
    row = (await statuses(demo_db, ids))[ids[0]]
    assert report.retrying == 1 and row["status"] == "queued" and "530" in row["last_error"]
    assert recorder.messages == []


async def test_implicit_tls(demo_db, config, clock, recorder, certificate) -> None:
    cert, key = certificate
    controller = _start(recorder, tls=server_tls(cert, key), implicit_tls=True)
    try:
        cfg = with_delivery(config, email="smtp", smtp=smtp_settings(controller.port, security="tls",
                                                                      ca_file=str(cert)))
        await queue_messages(demo_db, clock, await contactable_members(demo_db, 1))
        report = await OutboxSender(demo_db, cfg, clock).drain_once()
    finally:
        controller.stop()
    assert report.sent == 1 and len(recorder.messages) == 1


async def test_an_untrusted_certificate_is_not_accepted(demo_db, config, clock, recorder, certificate) -> None:
    cert, key = certificate
    controller = _start(recorder, tls=server_tls(cert, key))
    try:
        cfg = with_delivery(config, email="smtp", smtp=smtp_settings(controller.port, security="starttls"))
        ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1))
        await OutboxSender(demo_db, cfg, clock).drain_once()
    finally:
        controller.stop()
    row = (await statuses(demo_db, ids))[ids[0]]
    assert row["status"] == "queued" and "TLS with the mail server failed" in row["last_error"]
    assert "CERTIFICATE_VERIFY_FAILED" in row["last_error"] and recorder.messages == []


async def test_a_refused_recipient_fails_at_once_and_a_busy_server_is_retried(demo_db, config, clock, recorder) -> None:
    controller = _start(recorder)
    try:
        cfg = with_delivery(config, email="smtp", smtp=smtp_settings(controller.port))
        recorder.rcpt_reply = "550 5.1.1 no such mailbox"
        refused = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1))
        report = await OutboxSender(demo_db, cfg, clock).drain_once()
        assert (report.failed, report.retrying) == (1, 0)
        recorder.rcpt_reply = "451 4.3.0 try again later"
        busy = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1), kind="final_notice")
        report = await OutboxSender(demo_db, cfg, clock).drain_once()
        assert (report.failed, report.retrying) == (0, 1)
        recorder.rcpt_reply = None
        clock.advance(61)
        report = await OutboxSender(demo_db, cfg, clock).drain_once()
    finally:
        controller.stop()
    rows = await statuses(demo_db, refused + busy)
    assert rows[refused[0]]["status"] == "failed" and "550" in rows[refused[0]]["last_error"]
    assert rows[refused[0]]["attempts"] == 1
    assert report.sent == 1 and rows[busy[0]]["status"] == "sent" and rows[busy[0]]["attempts"] == 2


async def test_a_closed_port_is_retried_with_exponential_backoff_then_failed(demo_db, config, clock) -> None:
    cfg = with_delivery(config, email="smtp", smtp=smtp_settings(closed_port()), max_attempts=4,
                        retry_base_seconds=30, retry_max_seconds=100)
    ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1))
    report = await OutboxSender(demo_db, cfg, clock).drain(until_idle=True)
    row = (await statuses(demo_db, ids))[ids[0]]
    assert clock.sleeps == [30, 60, 100]
    assert (report.sent, report.retrying, report.failed) == (0, 3, 1)
    assert row["status"] == "failed" and row["attempts"] == 4
    assert row["last_error"] == "cannot reach the mail server: connection refused (gave up after 4 attempts)"


async def test_a_server_that_never_answers_times_out(demo_db, config, clock) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        cfg = with_delivery(config, email="smtp", smtp=smtp_settings(silent.getsockname()[1], timeout_seconds=0.2))
        ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1))
        report = await OutboxSender(demo_db, cfg, clock).drain_once()
    finally:
        silent.close()
    row = (await statuses(demo_db, ids))[ids[0]]
    assert report.retrying == 1 and row["last_error"] == "the mail server did not answer within 0.2 s"


async def test_no_password_in_clear_text_to_a_remote_server(demo_db, config, clock, monkeypatch) -> None:
    monkeypatch.setenv("GYMCONSOLE_SMTP_USER", "desk")
    monkeypatch.setenv("GYMCONSOLE_SMTP_PASSWORD", PASSWORD)
    cfg = with_delivery(config, email="smtp", smtp={"host": "mail.gym.invalid", "security": "none",
                                                    "from_address": "desk@gym.test"})
    ids = await queue_messages(demo_db, clock, await contactable_members(demo_db, 1))
    report = await OutboxSender(demo_db, cfg, clock).drain_once()
    row = (await statuses(demo_db, ids))[ids[0]]
    assert report.failed == 1 and row["status"] == "failed"
    assert "refusing to send the SMTP password without TLS" in row["last_error"]


async def test_what_an_acting_tool_queued_is_sent_as_rendered(demo_db, config, clock, recorder) -> None:
    from gymconsole.tools import guards
    from gymconsole.tools.base import ToolContext
    from gymconsole.tools.registry import Decision, call_tool

    async def approve(ctx: ToolContext, plan: object) -> Decision:
        return Decision("approved", "cli", "test")

    controller = _start(recorder)
    try:
        cfg = with_delivery(config, email="smtp", smtp=smtp_settings(controller.port))
        ctx = ToolContext(demo_db, cfg, clock, "past_due_monitoring", None)
        candidates = await demo_db.fetch_all("SELECT id FROM members WHERE past_due_since IS NOT NULL "
                                             "AND email IS NOT NULL ORDER BY id")
        due = [r["id"] for r in candidates
               if guards.check_notify(ctx, await guards.load_member(demo_db, r["id"]), "reminder") is None][:2]
        assert due, "the demo gym has members due for a reminder"
        outcome = await call_tool(ctx, "notify_past_due_member", {"member_ids": due}, None, approve)
        assert not outcome.is_error and outcome.result["done_count"] == len(due)
        queued = await demo_db.fetch_all("SELECT * FROM outbox WHERE status = 'queued' ORDER BY id")
        report = await OutboxSender(demo_db, cfg, clock).drain_once()
    finally:
        controller.stop()
    assert report.sent == len(due) == len(queued)
    assert [m.body.replace("\r\n", "\n").rstrip("\n") for m in recorder.messages] == [row["body"] for row in queued]
    assert [m.subject for m in recorder.messages] == [row["subject"] for row in queued]
    assert "{first_name}" not in recorder.messages[0].body


async def test_headers_shared_by_a_batch_are_right_for_each_message_and_each_drain(demo_db, config, clock,
                                                                                    recorder) -> None:
    """From, Reply-To and Date are parsed once and reused (the email package's header parsing was most of building a
    message): a later drain by the same sender is still stamped with its own time."""
    controller = _start(recorder)
    try:
        cfg = with_delivery(config, email="smtp", smtp=smtp_settings(controller.port))
        cfg = cfg.model_copy(update={"gym": cfg.gym.model_copy(update={"reply_to": "Front Desk <desk@gym.test>"})})
        sender = OutboxSender(demo_db, cfg, clock)
        people = await contactable_members(demo_db, 4)
        await queue_messages(demo_db, clock, people[:2])
        await sender.drain_once()
        clock.advance(3600)
        await queue_messages(demo_db, clock, people[2:])
        await sender.drain_once()
    finally:
        controller.stop()
    headers = [m.headers for m in recorder.messages]
    assert [h["Date"] for h in headers] == ["Mon, 02 Nov 2026 15:00:00 +0000"] * 2 + ["Mon, 02 Nov 2026 16:00:00 +0000"] * 2
    assert {h["From"] for h in headers} == {f"{cfg.gym.name} <desk@gym.test>"}
    assert {h["Reply-To"] for h in headers} == {"Front Desk <desk@gym.test>"}
    assert [h["To"] for h in headers] == [p["email"] for p in people]
