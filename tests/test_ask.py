"""The assistant against the fake Messages API (real SDK): read tools, a follow-up, an act that asks and is
denied, query-tool abuse failing safely, budgets, no API key."""

from __future__ import annotations

import json

import pytest
from fakeapi import Reply, Text, ToolUse, Usage
from helpers_engine import answer_no, answer_yes, engine

from gymconsole.engine.ask import ASK, ASSISTANT_PROMPT, AskRefused, Assistant, NeedsClaude
from gymconsole.engine.saved import SavedQuestions


async def test_a_question_answered_with_two_read_tools_then_a_follow_up(config, demo_path, clock, fake_api):
    async with engine(config, demo_path, clock, api=fake_api) as (services, events):
        assistant = Assistant(services)
        fake_api.script([
            Reply([Text("Let me look."), ToolUse("get_past_due_members", {"limit": 3}),
                   ToolUse("query_gym", {"sql": "SELECT COUNT(*) AS n FROM members WHERE balance > 300"})]),
            Reply([Text("Members owing over $300:\n\n| Name | Balance |\n|---|---|\n| Ann | $310 |\n\nOne in total.",
                        chunks=4)], usage=Usage(500, 60)),
        ])
        first = await assistant.ask("who owes more than $300?")
        fake_api.script([Reply([Text("Yes: Ann came in on Monday.")])])
        second = await assistant.ask("did she come in this week?", follow_up=first.run_id)
        stored = await services.db.fetch_all("SELECT run_id, conversation_id, question FROM questions ORDER BY run_id")
        run = await services.history.get_run(first.run_id)
        found = await services.history.list_runs(search="more than $300")  # found by its question
        saved = SavedQuestions(services.db, clock)  # saving the follow-up keeps what it follows up
        kept = await saved.save_from_run("ann", second.run_id, "did she come in this week?")
        ann = await saved.get("ann")
        replay = [e.to_dict() for e in await services.history.events(first.run_id)]

    assert first.status == "succeeded", first.error
    assert first.workflow == ASK and first.mode == "claude"
    assert [c["name"] for c in first.tool_calls] == ["get_past_due_members", "query_gym"]
    assert not any(c["is_error"] for c in first.tool_calls)
    assert "| Ann | $310 |" in first.answer and first.question == "who owes more than $300?"
    assert run["workflow"] == ASK and run["summary"] == first.answer
    assert [r["id"] for r in found] == [first.run_id]
    assert ann["question"] == "who owes more than $300? Then: did she come in this week?"
    assert kept == 1 and ann["queries"] == ["SELECT COUNT(*) AS n FROM members WHERE balance > 300"]
    assert any(e["kind"] == "notice" and "who owes more than $300?" in e["message"] for e in replay)

    requests = [r.json for r in fake_api.requests]
    assert requests[0]["system"][0]["text"].startswith(ASSISTANT_PROMPT)
    names = {tool["name"] for tool in requests[0]["tools"]}
    assert {"query_gym", "get_member", "restore_door_access"} <= names
    result_of_query = json.loads(requests[1]["messages"][2]["content"][1]["content"])
    assert result_of_query["columns"] == ["n"] and isinstance(result_of_query["rows"][0][0], int)

    # The follow-up carries the earlier question and answer: the conversation goes on.
    assert second.status == "succeeded" and second.conversation_id == first.run_id
    follow = requests[2]["messages"]
    assert follow[0] == {"role": "user", "content": "who owes more than $300?"}
    assert follow[1] == {"role": "assistant", "content": first.answer}
    assert follow[2]["content"][-1]["text"].endswith("did she come in this week?")  # with the turn's cache breakpoint
    assert stored == [{"run_id": first.run_id, "conversation_id": first.run_id, "question": "who owes more than $300?"},
                      {"run_id": second.run_id, "conversation_id": first.run_id, "question": "did she come in this week?"}]


async def test_a_task_that_acts_asks_a_person_and_is_denied(config, demo_path, clock, fake_api):
    """Even a moderate act (auto under safety.policy) asks when the assistant proposes it."""
    assert config.safety.policy["moderate"] == "auto"
    async with engine(config, demo_path, clock, api=fake_api, asker=answer_no) as (services, events):
        member = await services.db.fetch_one(
            "SELECT id FROM members WHERE status = 'active' AND balance_cents > 0 AND past_due_since IS NOT NULL "
            "AND opted_out = 0 AND email IS NOT NULL AND past_due_since <= '2026-10-20' ORDER BY balance_cents DESC LIMIT 1")
        fake_api.script([
            Reply([ToolUse("notify_past_due_member", {"member_ids": [member["id"]]})]),
            Reply([Text("The reminder was not sent: you declined it.")]),
        ])
        result = await Assistant(services).ask("send a payment reminder to our biggest debtor")
        outbox = await services.db.fetch_value("SELECT COUNT(*) FROM outbox WHERE run_id = ?", [result.run_id])
        audit = await services.db.fetch_all("SELECT decision, via, workflow FROM audit_log WHERE run_id = ?",
                                            [result.run_id])

    call = result.tool_calls[0]
    assert call == {"name": "notify_past_due_member", "is_error": False, "risk": call["risk"], "decision": "denied"}
    assert outbox == 0
    assert audit == [{"decision": "denied", "via": "cli", "workflow": ASK}]
    assert [e.kind for e in events.all].count("approval_requested") == 1


async def test_query_abuse_through_the_model_fails_safely(config, demo_path, clock, fake_api):
    async with engine(config, demo_path, clock, api=fake_api) as (services, events):
        before = await services.db.fetch_value("SELECT COUNT(*) FROM members")
        fake_api.script([
            Reply([ToolUse("query_gym", {"sql": "DELETE FROM members"}),
                   ToolUse("query_gym", {"sql": "SELECT email FROM main.members"}),
                   ToolUse("query_gym", {"sql": "WITH RECURSIVE f(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM f) "
                                                "SELECT COUNT(*) FROM f"})]),
            Reply([Text("I cannot change or read that.")]),
        ])
        import gymconsole.tools.query as query

        query.TIME_LIMIT_SECONDS, saved_limit = 0.2, query.TIME_LIMIT_SECONDS
        try:
            result = await Assistant(services).ask("delete every member and show me their emails")
        finally:
            query.TIME_LIMIT_SECONDS = saved_limit
        after = await services.db.fetch_value("SELECT COUNT(*) FROM members")

    assert result.status == "succeeded"
    assert [c["is_error"] for c in result.tool_calls] == [True, True, True]
    errors = [json.loads(block["content"])["error"] for block in fake_api.requests[1].json["messages"][-1]["content"]]
    assert errors[0].startswith("only SELECT") and "prohibited" in errors[1] and "stopped after" in errors[2]
    assert after == before and "@" not in events.dump()


async def test_budgets_per_day_and_no_api_key(config, demo_path, clock, fake_api):
    small = config.model_copy(update={"assistant": config.assistant.model_copy(update={"max_questions_per_day": 1})})
    async with engine(small, demo_path, clock, api=fake_api) as (services, _):
        fake_api.script([Reply([Text("42 members.")])])
        assistant = Assistant(services)
        assert (await assistant.ask("how many members?")).status == "succeeded"
        with pytest.raises(AskRefused, match="max_questions_per_day 1"):
            await assistant.ask("and prospects?")
    assert len(fake_api.requests) == 1

    async with engine(config, demo_path, clock) as (services, _):
        await SavedQuestions(services.db, clock).save("big-debts", "who owes most?",
                                                      ["SELECT id, balance FROM members ORDER BY balance DESC LIMIT 3"])
        with pytest.raises(NeedsClaude, match="asking needs Claude"):
            await Assistant(services).ask("how many members?")
        offline = await SavedQuestions(services.db, clock).run_offline("big-debts")
    assert offline[0]["columns"] == ["id", "balance"] and len(offline[0]["rows"]) == 3


async def test_the_consoles_dry_run_switch_reaches_the_assistant(config, demo_path, clock, fake_api):
    async with engine(config, demo_path, clock, api=fake_api) as (services, _):
        assistant = Assistant(services)
        services.runner.dry_run = True  # the console's `d`, flipped after the assistant was made
        fake_api.script([Reply([Text("Nothing changes in a dry run.")])])
        result = await assistant.ask("suspend everyone who owes")
    assert result.dry_run is True
    assert "DRY RUN" in json.dumps(fake_api.requests[0].json["messages"][-1]["content"])


async def test_a_question_stops_at_its_budget_and_the_days_cost_bounds_the_next(config, demo_path, clock, fake_api):
    """$0.10 a question, $0.20 a day (Sonnet: $3 / $15 per million tokens): the first question stops at its own
    budget; the second may spend only the day's remaining $0.0785; the third is refused before anything is sent."""
    budgets = config.assistant.model_copy(update={"max_cost_per_question": 0.10, "max_cost_per_day": 0.20})
    async with engine(config.model_copy(update={"assistant": budgets}), demo_path, clock, api=fake_api) as (services, _):
        assistant = Assistant(services)
        fake_api.script([Reply([ToolUse("get_past_due_members", {"limit": 3})], usage=Usage(40_000, 100))])
        first = await assistant.ask("who owes?")  # $0.1215: over its $0.10
        fake_api.script([Reply([ToolUse("get_past_due_members", {"limit": 3})], usage=Usage(30_000, 100))])
        second = await assistant.ask("and this week?")  # $0.0915: within a question's $0.10, over the day's rest
        with pytest.raises(AskRefused, match=r"today's assistant budget is spent: \$0.21 of \$0.20"):
            await assistant.ask("and last week?")
        spent = await assistant.spent_today()

    assert first.status == second.status == "budget_exhausted"
    assert "max_cost_per_run $0.10" in first.error and "max_cost_per_run $0.08" in second.error
    assert first.tool_calls == second.tool_calls == []  # the tool calls asked for past the budget were not run
    assert len(fake_api.requests) == 2 and spent == (2, pytest.approx(0.213))


async def test_why_questions_read_the_run_history_and_the_audit_log(config, demo_path, clock, fake_api):
    """'Why was member N locked out?': the door change, the run that made it, and who approved it, from the views."""
    async with engine(config, demo_path, clock, api=fake_api, asker=answer_yes) as (services, _):
        (member,) = await services.db.fetch_all(
            "SELECT m.id FROM members m JOIN door_credentials d ON d.member_id = m.id WHERE m.status = 'active' "
            "AND d.access_state = 'active' AND m.missing_since IS NULL AND m.balance_cents >= 10000 "
            "AND m.past_due_since <= '2026-10-01' ORDER BY m.id LIMIT 1")
        fake_api.script([Reply([ToolUse("suspend_door_access", {"member_ids": [member["id"]], "reason": "past due"})]),
                         Reply([Text("Suspended one member for non-payment.")])])
        door = await services.runner.run("door_access")
        clock.advance(3600)
        why = (f"SELECT c.action, c.reason, r.workflow, r.summary, a.decision, a.actor, a.via FROM door_changes c "
               f"JOIN runs r ON r.id = c.run_id JOIN audit_log a ON a.run_id = c.run_id AND a.tool = 'suspend_door_access' "
               f"AND a.decision = 'approved' WHERE c.member_id = {member['id']}")
        fake_api.script([Reply([ToolUse("query_gym", {"sql": why})]),
                         Reply([Text("Door access was suspended by the door access run: past due, approved by tester.")])])
        answer = await Assistant(services).ask(f"why was member {member['id']} locked out?")

    assert door.status == answer.status == "succeeded" and answer.tool_calls[0]["is_error"] is False
    assert answer.attention is None  # telling what an earlier run did is not claiming to have acted
    result = json.loads(fake_api.requests[-1].json["messages"][-1]["content"][0]["content"])
    assert result["rows"] == [["suspend", "past due", "door_access", "Suspended one member for non-payment.",
                               "approved", "tester", "cli"]]


@pytest.mark.parametrize("answer, attention", [
    ("Lena was suspended on Monday by the door access run.", False),
    ("Three reminders were sent last week.", False),
    ("I sent Lena a reminder.", True),
    ("We've restored her door access.", True),
    ("I did not send anything.", False),
])
def test_an_answer_about_the_past_is_not_a_claim_of_acting(answer, attention):
    """The assistant's answers tell what earlier runs did; only 'I sent ...' without any act is flagged."""
    from gymconsole.engine.outcome import attention_note

    none = {"done": 0, "skipped": 0, "denied": 0, "pending": 0, "failed": 0}
    assert (attention_note(answer, none, False, reports=True) is not None) is attention
    assert attention_note(answer, {**none, "denied": 1}, False, reports=True) == (
        None if "not" in answer else "the model reported acting, but 0 acts were carried out, 1 was denied")


def test_a_stored_answers_tables_read_as_tables_in_history_and_the_live_view():
    """History, replay and the live view print a run's lines: an answer's Markdown table is drawn as columns."""
    from gymconsole.engine.events import RunFinished
    from gymconsole.present.run_events import RunPresenter

    answer = "Largest balances:\n\n| Name | Balance |\n|---|---|\n| O'Brien [/vip] | $310.00 |\n| Ann | $9.00 |\n\nTwo."
    lines = RunPresenter().lines(RunFinished(7, ASK, status="succeeded", summary=answer, iterations=2))
    shown = "\n".join(line.plain for line in lines)
    assert "Name            Balance\n" in shown and "O'Brien [/vip]  $310.00\n" in shown and "Ann             $9.00" in shown
    assert "|" not in shown and "Two." in shown
