"""Offline playbooks on the demo data: same tools, same gate, same events; labelled, never AI."""

from __future__ import annotations

import pytest
from helpers_engine import answer_no, answer_yes, engine, with_workflow

from gymconsole.config import WorkflowConfig
from gymconsole.engine.offline import LABEL, PLAYBOOKS

ASKS = {"daily_campaigns", "past_due_monitoring", "daily_escalation", "door_access"}
"""Workflows whose playbook reaches a high-risk act (the shipped policy asks a person)."""


def test_every_shipped_workflow_has_a_playbook(repo_config):
    assert set(repo_config.workflows) == set(PLAYBOOKS)


@pytest.mark.parametrize("workflow", sorted(PLAYBOOKS))
async def test_playbook_with_nobody_watching(config, demo_path, clock, workflow):
    async with engine(config, demo_path, clock, offline=True) as (services, events):
        result = await services.runner.run(workflow)
        run = await services.history.get_run(result.run_id)
        pending = await services.gate.pending()
    expected = "awaiting_approval" if workflow in ASKS else "succeeded"
    assert result.status == expected, (result.error, result.summary)
    assert result.mode == "offline" and run["mode"] == "offline" and run["status"] == expected
    assert events.of("run_started")[0].mode == "offline"
    assert result.summary.startswith(LABEL) and "AI" not in result.summary.replace("(no AI)", "")
    assert events.text().startswith(LABEL)
    assert not any(c["is_error"] for c in result.tool_calls)
    assert result.usage == {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0} and result.cost_usd == 0
    assert len(events.of("tool_started")) == len(events.of("tool_finished")) == len(result.tool_calls) >= 1
    if workflow in ASKS:
        assert pending and all(p["status"] == "pending" for p in pending)
        assert "waiting for a person" in result.error


@pytest.mark.parametrize("workflow", sorted(PLAYBOOKS))
async def test_playbook_approved_succeeds_and_acts(config, demo_path, clock, workflow):
    async with engine(config, demo_path, clock, offline=True, asker=answer_yes) as (services, events):
        result = await services.runner.run(workflow)
        effects = await services.db.fetch_value("SELECT COUNT(*) FROM effects WHERE run_id = ? AND status = 'done'",
                                                [result.run_id])
    assert result.status == "succeeded", (result.error, result.summary)
    acting = [c for c in result.tool_calls if c["decision"] is not None]
    assert acting and all(c["decision"] in ("approved", "auto") for c in acting)
    assert effects > 0


async def test_door_access_playbook_changes_doors_only_when_approved(config, demo_path, clock):
    async with engine(config, demo_path, clock, offline=True, asker=answer_no) as (services, _):
        before = await services.db.fetch_all("SELECT member_id, access_state FROM door_credentials ORDER BY member_id")
        denied = await services.runner.run("door_access")
        after_denied = await services.db.fetch_all("SELECT member_id, access_state FROM door_credentials ORDER BY member_id")
        services.gate.asker = answer_yes
        approved = await services.runner.run("door_access")
        changes = await services.db.fetch_value("SELECT COUNT(*) FROM door_changes WHERE run_id = ?", [approved.run_id])
    assert denied.status == "succeeded" and "not done (denied)" in denied.summary
    assert before == after_denied
    assert approved.status == "succeeded" and changes > 0 and "Suspensions: suspended" in approved.summary


async def test_playbook_in_dry_run_changes_nothing(config, demo_path, clock):
    async with engine(config, demo_path, clock, offline=True, asker=answer_yes, dry_run=True) as (services, events):
        before = await services.db.fetch_value("SELECT COUNT(*) FROM rewards")
        result = await services.runner.run("referral_check")
        after = await services.db.fetch_value("SELECT COUNT(*) FROM rewards")
    assert result.status == "succeeded" and result.dry_run
    assert before == after and "dry run: would have credited" in result.summary
    assert events.of("run_started")[0].dry_run is True


async def test_second_run_does_not_act_twice(config, demo_path, clock):
    async with engine(config, demo_path, clock, offline=True) as (services, _):
        before = await services.db.fetch_value("SELECT COUNT(*) FROM rewards")
        first = await services.runner.run("referral_check")
        second = await services.runner.run("referral_check")
        rewards = await services.db.fetch_value("SELECT COUNT(*) FROM rewards") - before
    assert "credited" in first.summary and first.status == second.status == "succeeded"
    assert "0 referrals due a reward" in second.summary and "No rewards to issue" in second.summary
    assert rewards == int(first.summary.split("credited ")[1].split(".")[0])


async def test_a_workflow_without_playbook_reports_its_read_tools(config, demo_path, clock):
    extra = WorkflowConfig(title="Weekly look", schedule={"hour": "7"}, tools=["get_green_members", "get_member",
                                                                          "get_past_due_members", "flag_invoice"],
                           task="Look at the members and report.")
    config = config.model_copy(update={"workflows": {**config.workflows, "weekly_look": extra}})
    async with engine(config, demo_path, clock, offline=True) as (services, events):
        result = await services.runner.run("weekly_look")
    assert result.status == "succeeded"
    assert [c["name"] for c in result.tool_calls] == ["get_green_members", "get_past_due_members"]
    assert "get_green_members:" in result.summary and "members past due" in result.summary
    assert "No offline playbook" in events.text()


async def test_playbook_skips_tools_the_config_took_away(config, demo_path, clock):
    config = with_workflow(config, "door_access", tools=["get_door_access_status", "restore_door_access"])
    async with engine(config, demo_path, clock, offline=True, asker=answer_yes) as (services, events):
        result = await services.runner.run("door_access")
    assert result.status == "succeeded"
    assert "suspend_door_access" not in [c["name"] for c in result.tool_calls]
    assert "suspend_door_access is not enabled" in events.text()
