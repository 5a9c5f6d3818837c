"""Spend limits: scheduled runs go offline (or wait) once today's or this month's Claude spend reaches its limit."""

from __future__ import annotations

import time

import pytest
from fakeapi import Reply, Text
from helpers_engine import engine, with_model

from gymconsole.clock import iso


async def _spent(services, clock, cost: float, days_ago: int = 0) -> None:
    from datetime import timedelta

    async with services.db.write() as tx:
        await tx.execute("INSERT INTO runs (workflow, trigger, mode, dry_run, status, started_at, cost_usd) "
                         "VALUES ('door_access', 'schedule', 'claude', 0, 'succeeded', ?, ?)",
                         (iso(clock.now() - timedelta(days=days_ago)), cost))


async def test_scheduled_runs_use_their_playbook_once_the_daily_limit_is_reached(config, demo_path, clock, fake_api):
    config = with_model(config, daily_budget_usd=0.50, monthly_budget_usd=20.0)
    alerts: list[str] = []

    async def alert(line: str) -> bool:
        alerts.append(line)
        return True

    async with engine(config, demo_path, clock, api=fake_api) as (services, events):
        services.runner.spend.alert = alert
        await _spent(services, clock, 0.30, days_ago=3)  # earlier this month: not today's
        fake_api.script([Reply([Text("Nothing due.")])])
        under = await services.runner.run("referral_check", trigger="schedule")
        await _spent(services, clock, 0.50)
        first = await services.runner.run("referral_check", trigger="schedule")
        second = await services.runner.run("invoice_review", trigger="schedule")
        by_hand = None
        fake_api.script([Reply([Text("Checked by hand.")])])
        by_hand = await services.runner.run("referral_check")
    assert under.mode == "claude" and len(fake_api.requests) == 2
    assert first.mode == "offline" and first.status == "succeeded" and second.mode == "offline"
    notices = [n.message for n in events.of("notice") if "limit" in n.message]
    assert "today's Claude spend $0.5" in notices[0] and "has reached the limit of $0.50" in notices[0]
    assert "offline playbook" in notices[0]
    assert len(alerts) == 1 and "scheduled runs now use their offline playbooks" in alerts[0]
    assert by_hand.mode == "claude" and "started by hand" in notices[-1]


async def test_wait_skips_scheduled_runs_until_the_month_resets(config, demo_path, clock, fake_api):
    config = with_model(config, monthly_budget_usd=1.0, on_budget_reached="wait")
    async with engine(config, demo_path, clock, api=fake_api) as (services, _):
        services.runner.spend.alert = None
        await _spent(services, clock, 1.25)
        result = await services.runner.run("door_access", trigger="schedule")
        run = await services.history.get_run(result.run_id)
    assert result.status == "skipped" and run["status"] == "skipped"
    assert "this month's Claude spend $1.25" in result.error and "resets 2026-12-01 00:00" in result.error
    assert fake_api.requests == []


async def test_the_spend_report_shows_the_month_the_chart_and_each_workflow(config, demo_path, clock, fake_api):
    from gymconsole.engine.spend import spend_report

    config = with_model(config, daily_budget_usd=2.0)
    async with engine(config, demo_path, clock, api=fake_api) as (services, _):
        fake_api.script([Reply([Text("Nothing due.")]), Reply([Text("Nothing due again.")])])
        first = await services.runner.run("referral_check")
        second = await services.runner.run("referral_check")
        await _spent(services, clock, 0.25, days_ago=1)
        report = await spend_report(services.db, services.config, clock)
    assert report.daily_limit == 2.0 and report.monthly_limit is None
    assert abs(report.today - (first.cost_usd + second.cost_usd)) < 1e-5 and report.daily[-1] == report.today
    assert report.daily[-2] == 0.25 and len(report.daily) == 30
    assert report.per_run["referral_check"] > 0
    # every other Monday: two or three runs in the next 30 days
    runs = round(report.per_month["referral_check"] / report.per_run["referral_check"])
    assert runs in (2, 3) and abs(report.per_month["referral_check"] - report.per_run["referral_check"] * runs) < 1e-9


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="the process time zone can only be changed on POSIX")
async def test_the_daily_chart_counts_days_in_the_gym_time_zone_whatever_the_pc_s_own(
        config, demo_path, clock, fake_api, monkeypatch):
    from datetime import timedelta

    from gymconsole.engine.spend import spend_report

    # 06:00 UTC today is 01:00 in New York (the gym's day) and 15:00 in Tokyo (the office PC's zone here)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        async with engine(config, demo_path, clock, api=fake_api) as (services, _):
            early = clock.now().replace(hour=6, minute=0)
            async with services.db.write() as tx:
                await tx.execute("INSERT INTO runs (workflow, trigger, mode, dry_run, status, started_at, cost_usd) "
                                 "VALUES ('door_access', 'schedule', 'claude', 0, 'succeeded', ?, 0.5)", (iso(early),))
            report = await spend_report(services.db, services.config, clock)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert clock.now() - early < timedelta(hours=10)
    assert report.daily[-1] == 0.5 and report.daily[-2] == 0.0 and report.today == 0.5


async def test_the_one_alert_is_sent_again_when_no_channel_took_it(config, demo_path, clock, fake_api, monkeypatch):
    from servers import Answer, JsonServer

    webhook = JsonServer().start()
    webhook.script(Answer(status=503, body={"error": "down"}))  # the first try: the webhook is down
    monkeypatch.setenv("GYMCONSOLE_SLACK_WEBHOOK", webhook.url + "/hooks/secret")
    config = with_model(config, daily_budget_usd=0.50)
    try:
        async with engine(config, demo_path, clock, api=fake_api) as (services, _):
            await _spent(services, clock, 0.75)
            runs = [await services.runner.run("referral_check", trigger="schedule") for _ in range(3)]
    finally:
        webhook.close()
    assert [run.mode for run in runs] == ["offline"] * 3 and fake_api.requests == []
    assert len(webhook.requests) == 2 and len(webhook.delivered) == 1  # tried again once, then delivered once
    assert "today's Claude spend $0.75 has reached the limit of $0.50" in webhook.delivered[0].json["text"]
