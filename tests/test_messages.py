"""The gym's own voice: `[gym]` and `[messages]` in config decide every word a member receives.

What a person approves is the message exactly as it is sent: the plan carries the whole text (footer and
STOP line included), the outbox row holds that text, and a real SMTP server receives it with the gym's
name as sender and its Reply-To.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers_delivery import smtp_settings, with_delivery
from helpers_safety import add_member, add_prospect
from servers import SmtpRecorder, start_smtp
from test_acts import approve_all, call, db, plan_of  # noqa: F401 (fixtures)

from gymconsole.cli import main
from gymconsole.config import Config, ConfigError, load_config, parse_config
from gymconsole.delivery.sender import OutboxSender
from gymconsole.tools.base import ToolContext
from gymconsole.tools.messages import email_headers, examples

ROOT = Path(__file__).resolve().parent.parent

GYM = {"name": "Northside Fitness", "sign_off": "Sam at the front desk", "reply_to": "hello@northside.test",
       "phone": "(555) 010-2030"}
MESSAGES = {
    "reminder": "Hello {first_name} {last_name}: {amount_due} is open at {gym_name}. Call {gym_phone}.\n{sign_off}",
    "final_notice": "FINAL: {first_name}, {amount_due} at {gym_name}. Reply to {reply_to}.",
    "notice_subject": "{gym_name}: your account",
    "campaign_footer": "{sign_off} · {gym_name} · {gym_phone}",
    "sms_stop": "Text STOP to {gym_name} to opt out.",
}


def gym_config(config: Config, **messages: str) -> Config:
    data = config.model_dump(mode="json", by_alias=True, exclude={"source_path", "file_keys"})
    return parse_config({**data, "gym": GYM, "messages": {**MESSAGES, **messages}})


def test_the_shipped_config_carries_the_gym_and_every_template(repo_config: Config) -> None:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    assert "\n[gym]\n" in text and "\n[messages]\n" in text
    for key in ("name", "sign_off", "reply_to", "phone", "reminder", "final_notice", "notice_subject",
                "campaign_footer", "sms_stop"):
        assert f"{key} = " in text, key
    assert repo_config.source_of("messages.reminder") == "config.toml"  # written out, not only a default
    assert repo_config.messages == Config().messages and repo_config.gym == Config().gym


@pytest.mark.parametrize(("section", "values", "phrase"), [
    ("messages", {"reminder": "Hi {frist_name}"}, "messages.reminder: unknown placeholder {frist_name} (known: "),
    ("messages", {"sms_stop": "STOP {amount}"}, "messages.sms_stop: unknown placeholder {amount}"),
    ("messages", {"campaign_footer": "call {gym_phone}"}, "messages.campaign_footer uses {gym_phone} but gym.phone"),
    ("gym", {"reply_to": "front desk"}, "gym.reply_to: expected an email address"),
    ("gym", {"name": "Evil\x1b[2J Gym"}, "gym.name: name must be one line of printable characters"),
])
def test_a_bad_template_or_gym_value_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            section: str, values: dict[str, str], phrase: str) -> None:
    lines = [f"[{section}]", *(f"{key} = {json.dumps(value)}" for key, value in values.items())]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + '\n[database]\npath = "gym.db"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="^" + str(path).replace("\\", "\\\\")):
        load_config(path)
    code = main(["workflows", "--config", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("gymconsole: ") and err.count("\n") == 1 and phrase in err, err


async def test_notices_are_written_in_the_gyms_words_with_money_as_on_screen(db: Any, config: Config,
                                                                              clock: Any) -> None:
    await add_member(db, 1, first="Ann", last="Wright", balance_cents=248_000, past_due_since="2026-10-20")
    ctx = ToolContext(db, gym_config(config), clock, "past_due_monitoring", None)
    plan = await plan_of(ctx, "notify_past_due_member", {"member_ids": [1], "kind": "reminder"})
    text = plan.items[0].detail["text"]
    assert text == ("Hello Ann Wright: $2,480.00 is open at Northside Fitness. Call (555) 010-2030.\n"
                    "Sam at the front desk")
    assert plan.message and plan.message["subject"] == "Northside Fitness: your account"
    await call(ctx, "notify_past_due_member", {"member_ids": [1], "kind": "reminder"})
    row = await db.fetch_one("SELECT subject, body FROM outbox WHERE person_id = 1")
    assert (row["subject"], row["body"]) == ("Northside Fitness: your account", text)


async def test_a_text_message_ends_with_the_stop_line_and_a_campaign_with_the_footer(db: Any, config: Config,
                                                                                   clock: Any) -> None:
    await add_member(db, 1, first="Ann", last="Wright", balance_cents=5_000, past_due_since="2026-10-01")
    await add_prospect(db, 7)
    ctx = ToolContext(db, gym_config(config), clock, "daily_campaigns", None)
    sms = await plan_of(ctx, "notify_past_due_member", {"member_ids": [1], "kind": "final_notice", "channel": "sms"})
    assert sms.items[0].detail["text"] == ("FINAL: Ann, $50.00 at Northside Fitness. Reply to hello@northside.test.\n"
                                           "Text STOP to Northside Fitness to opt out.")
    campaign = await plan_of(ctx, "send_campaign", {"audience": "prospects", "template": "Hi {first_name}, a week free."})
    assert campaign.items[0].detail["text"] == ("Hi Sam, a week free.\n\n"
                                                "Sam at the front desk · Northside Fitness · (555) 010-2030")
    by_sms = await plan_of(ctx, "send_campaign", {"audience": "prospects", "channel": "sms", "template": "Hi!"})
    assert by_sms.items[0].detail["text"].endswith("(555) 010-2030\nText STOP to Northside Fitness to opt out.")


async def test_a_template_changed_after_approval_sends_nothing_unseen(db: Any, config: Config, clock: Any) -> None:
    from gymconsole.tools.registry import execute_plan

    await add_member(db, 1, first="Ann", past_due_since="2026-10-20")
    planned = ToolContext(db, gym_config(config), clock, "past_due_monitoring", None)
    plan = await plan_of(planned, "notify_past_due_member", {"member_ids": [1]})
    edited = ToolContext(db, gym_config(config, reminder="Pay now, {first_name}."), clock, "past_due_monitoring", None)
    result = await execute_plan(edited, plan)
    assert result["done_count"] == 0 and "text changed since it was planned" in result["skipped"][0]["reason"]
    assert await db.fetch_value("SELECT COUNT(*) FROM outbox") == 0


async def test_email_goes_out_from_the_gym_with_its_reply_to(db: Any, config: Config, clock: Any) -> None:
    await add_member(db, 1, first="Ann", last="Wright", balance_cents=248_000, past_due_since="2026-10-20",
                     email="ann@example.com")
    recorder = SmtpRecorder()
    controller = start_smtp(recorder)
    try:
        cfg = with_delivery(gym_config(config), email="smtp", smtp=smtp_settings(controller.port))
        await call(ToolContext(db, cfg, clock, "past_due_monitoring", None), "notify_past_due_member",
                   {"member_ids": [1]})
        report = await OutboxSender(db, cfg, clock).drain_once()
    finally:
        controller.stop()
    assert report.sent == 1
    received = recorder.messages[0]
    assert received.headers["From"] == "Northside Fitness <desk@gym.test>"
    assert received.headers["Reply-To"] == "hello@northside.test"
    assert email_headers(cfg) == {"from": received.headers["From"], "reply_to": received.headers["Reply-To"]}
    assert received.subject == "Northside Fitness: your account"
    assert received.body.replace("\r\n", "\n").rstrip("\n") == await db.fetch_value("SELECT body FROM outbox")


def test_the_examples_the_config_screen_shows_are_the_messages_as_sent(config: Config) -> None:
    shown = dict(examples(gym_config(config)))
    assert shown["reminder by email"] == ("From: Northside Fitness (no sending address set yet) · "
                                          "Reply-To: hello@northside.test\nSubject: Northside Fitness: your account\nHello Jane Wright: $2,480.00 is "
                                          "open at Northside Fitness. Call (555) 010-2030.\nSam at the front desk")
    assert shown["reminder by text message"].endswith("\nText STOP to Northside Fitness to opt out.")


async def test_the_config_screen_shows_a_message_as_sent_at_80x24(config: Config, demo_path: Path, clock: Any) -> None:
    from helpers_tui import open_console, tui_config, wait_until
    from test_tui_hostile import screen_text
    from textual.widgets import DataTable

    from gymconsole.tui.screens.config_view import ConfigScreen

    async with open_console(tui_config(gym_config(config)), demo_path, clock, size=(80, 24)) as pilot:
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigScreen), what="config")
        table = pilot.app.screen.query_one("#config-table", DataTable)
        table.move_cursor(row=table.get_row_index("messages.campaign_footer"))
        await wait_until(pilot, lambda: "campaign by email, as sent" in screen_text(pilot.app), what="the example")
        await pilot.press("tab", "end")  # the detail pane scrolls to the end of the example
        await wait_until(pilot, lambda: "Sam at the front desk · Northside Fitness · (555) 010-2030"
                         in screen_text(pilot.app), what="the footer")
        assert "Hi Jane, your first week of classes is on us." in screen_text(pilot.app)
        await pilot.press("shift+tab")
        table.move_cursor(row=table.get_row_index("messages.sms_stop"))
        await pilot.press("tab", "end")
        await wait_until(pilot, lambda: "Text STOP to Northside Fitness to opt out." in screen_text(pilot.app),
                         what="the STOP line")


def test_init_writes_the_gyms_name_into_the_new_config(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "office" / "config.toml"
    target.parent.mkdir()
    assert main(["init", "--config", str(target), "--gym-name", "  Northside   Fitness "]) == 0
    capsys.readouterr()
    config = load_config(target)
    assert config.gym.name == "Northside Fitness" and config.source_of("gym.name") == "config.toml"
    assert dict(examples(config))["reminder by email"].startswith(
        "From: Northside Fitness (no sending address set yet)\nSubject: Your account at Northside Fitness is")
    assert target.read_text(encoding="utf-8").count("\n[gym]\n") == 1  # replaced in place, not a second table
