"""Claude as it really answers, through the real SDK: stop reasons, missing usage, extended thinking, acts from facts."""

from __future__ import annotations

import anthropic
import pytest
from fakeapi import NO_USAGE, RedactedThinking, Reply, Text, Thinking, ToolUse, Usage
from helpers_engine import KEY, answer_no, engine, with_model, with_workflow

from gymconsole.config import ThinkingSetting
from gymconsole.engine.request import CONTINUE_PROMPT, INTERLEAVED_THINKING_BETA


async def _run(config, demo_path, clock, fake_api, steps, workflow="invoice_review", **kw):
    fake_api.script(steps)
    async with engine(config, demo_path, clock, api=fake_api, **kw) as (services, events):
        result = await services.runner.run(workflow)
        run = await services.history.get_run(result.run_id)
        stored = await services.history.events(result.run_id)
    return result, events, run, stored


async def test_an_answer_cut_off_at_max_tokens_is_continued(config, demo_path, clock, fake_api):
    steps = [Reply([Text("Three invoices are open, total open $1,2")], stop_reason="max_tokens"),
             Reply([Text("34.56; none is overdue.")])]
    result, events, run, _ = await _run(config, demo_path, clock, fake_api, steps)
    assert result.status == "succeeded" and run["status"] == "succeeded"
    assert result.summary == "Three invoices are open, total open $1,234.56; none is overdue."
    second = fake_api.requests[1].json["messages"]
    assert second[-2] == {"role": "assistant", "content": [{"type": "text", "text": "Three invoices are open, total open $1,2"}]}
    assert second[-1]["role"] == "user" and second[-1]["content"][0]["text"] == CONTINUE_PROMPT
    assert any("cut off at max_tokens" in n.message for n in events.of("notice"))


async def test_continuations_running_out_end_the_run_truncated(config, demo_path, clock, fake_api):
    config = with_model(config, max_continuations=1)
    steps = [Reply([Text("The total open is $1,2")], stop_reason="max_tokens"),
             Reply([Text("34.5")], stop_reason="max_tokens")]
    result, _, run, _ = await _run(config, demo_path, clock, fake_api, steps)
    assert result.status == "truncated" and run["status"] == "truncated"
    assert "cut off at max_tokens after 1 continuation" in result.error and "model.max_output_tokens" in result.error
    assert len(fake_api.requests) == 2


async def test_pause_turn_sends_the_content_back_to_continue(config, demo_path, clock, fake_api):
    steps = [Reply([Text("Looking at the invoices")], stop_reason="pause_turn"), Reply([Text(": nothing to flag.")])]
    result, _, _, _ = await _run(config, demo_path, clock, fake_api, steps)
    assert result.status == "succeeded" and result.summary == "Looking at the invoices: nothing to flag."
    last = fake_api.requests[1].json["messages"][-1]
    assert last == {"role": "assistant", "content": [{"type": "text", "text": "Looking at the invoices"}]}


async def test_a_full_context_window_has_its_own_status(config, demo_path, clock, fake_api):
    steps = [Reply([Text("Invoice 4 is")], stop_reason="model_context_window_exceeded")]
    result, events, run, _ = await _run(config, demo_path, clock, fake_api, steps)
    assert result.status == "context_exceeded" and run["status"] == "context_exceeded"
    assert "context window" in result.error and "max_iterations" in result.error
    assert events.of("run_finished")[0].status == "context_exceeded"


async def test_the_documented_thinking_stream_without_usage_counts_unknown(config, demo_path, clock, fake_api):
    steps = [Reply([Thinking("Let me look at the invoices first.", chunks=2), Text("Nothing to flag.")],
                   usage=NO_USAGE)]
    result, events, run, _ = await _run(config, demo_path, clock, fake_api, steps)
    assert result.status == "succeeded" and result.summary == "Nothing to flag."
    assert result.usage["unknown_requests"] == 1 and result.usage["input"] == 0
    assert events.of("usage")[-1].unknown_requests == 1


async def test_thinking_before_a_tool_call_goes_back_exactly_with_its_signature(config, demo_path, clock, fake_api):
    config = with_workflow(config, "referral_check", thinking=ThinkingSetting(mode="budget", budget_tokens=2048))
    steps = [Reply([Thinking("I should list who is due a reward.", signature="EqQBCgIYAhIM1gbcDa9G", chunks=3),
                    ToolUse("get_referral_candidates", {})]),
             Reply([RedactedThinking("EmwKAhgBEgy3va3pzix/LafPsn4a"), Text("No rewards were due.")])]
    result, events, run, stored = await _run(config, demo_path, clock, fake_api, steps, workflow="referral_check")
    assert result.status == "succeeded", result.error  # the fake answers 400 if the block came back altered
    first, second = (r.json for r in fake_api.requests)
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert first["max_tokens"] == config.model.max_output_tokens + 2048
    assert fake_api.requests[0].headers["anthropic-beta"] == INTERLEAVED_THINKING_BETA
    assert second["messages"][1]["content"][0] == {"type": "thinking", "thinking": "I should list who is due a reward.",
                                                  "signature": "EqQBCgIYAhIM1gbcDa9G"}
    # shown live piece by piece, stored whole, replayed; never in the summary
    assert len(events.of("thinking_delta")) == 3
    assert "".join(e.text for e in events.of("thinking_delta")) == "I should list who is due a reward."
    assert [(e.text, e.redacted) for e in stored if e.kind == "thinking"] == [
        ("I should list who is due a reward.", False), ("", True)]
    assert not [e for e in stored if e.kind == "thinking_delta"]
    assert "reward." not in result.summary.replace("No rewards were due.", "")


async def test_the_fake_refuses_a_tool_turn_that_dropped_its_thinking(fake_api):
    fake_api.script([Reply([Thinking("check"), ToolUse("lookup", {})])])
    client = anthropic.AsyncAnthropic(api_key=KEY, base_url=fake_api.base_url, max_retries=0)
    thinking = {"type": "enabled", "budget_tokens": 1024}
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    messages = [{"role": "user", "content": "hi"}]
    first = await client.messages.create(model="claude-sonnet-4-6", max_tokens=2048, thinking=thinking,
                                         tools=tools, messages=messages)
    use = first.content[1]
    without = [{"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": "lookup", "input": {}}]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "ok"}]}]
    with pytest.raises(anthropic.BadRequestError, match="Expected `thinking` or `redacted_thinking`"):
        await client.messages.create(model="claude-sonnet-4-6", max_tokens=2048, thinking=thinking, tools=tools,
                                     messages=messages + without)
    await client.close()


async def test_adaptive_thinking_on_a_model_without_it_fails_before_any_request(config, demo_path, clock, fake_api):
    config = with_workflow(config, "invoice_review", model="claude-sonnet-4-5",
                           thinking=ThinkingSetting(mode="adaptive"))
    result, _, _, _ = await _run(config, demo_path, clock, fake_api, [])
    assert result.status == "failed" and "does not take adaptive thinking" in result.error
    assert fake_api.requests == []


async def test_the_summary_does_not_decide_the_outcome(config, demo_path, clock, fake_api):
    # every act denied by the person, and the model says it handled everyone
    steps = [Reply([ToolUse("get_door_access_status", {"limit": 5})]),
             Reply([ToolUse("suspend_door_access", {"member_ids": [], "reason": "past due"})]),
             Reply([Text("Done, everyone handled.")])]
    async with engine(config, demo_path, clock, api=fake_api, asker=answer_no) as (services, events):
        from gymconsole.tools.base import ToolContext
        from gymconsole.tools.read import get_door_access_status
        from gymconsole.tools.registry import REGISTRY

        status = await get_door_access_status(ToolContext(services.db, services.config, clock, "door_access"),
                                              REGISTRY["get_door_access_status"].parse_args({"limit": 3}))
        ids = [p["id"] for p in status["should_suspend"]["sample"]]
        steps[1] = Reply([ToolUse("suspend_door_access", {"member_ids": ids, "reason": "past due"})])
        fake_api.script(steps)
        result = await services.runner.run("door_access")
        run = await services.history.get_run(result.run_id)
    assert result.acts == {"done": 0, "skipped": 0, "denied": len(ids), "pending": 0, "failed": 0}
    assert result.attention == f"the model reported acting, but 0 acts were carried out, {len(ids)} were denied"
    assert run["attention"] == result.attention and '"denied": %d' % len(ids) in run["acts"]
    assert events.of("run_finished")[0].acts == result.acts


@pytest.mark.parametrize("summary, claims", [
    ("Done.", False), ("Done, everyone handled.", True), ("No rewards were due.", False),
    ("Suspended door access for 2 members.", True), ("I did not send anything; 7 were skipped.", False),
    ("All 5 reminders were sent.", True), ("Reviewed 40 invoices, none needed a flag.", False),
])
def test_what_counts_as_a_claim_of_acting(summary, claims):
    from gymconsole.engine.outcome import claims_acting

    assert claims_acting(summary) is claims


@pytest.mark.parametrize("usage", [Usage(input_tokens=2000, output_tokens=None),
                                   Usage(input_tokens=None, output_tokens=40),
                                   Usage(2000, 40, cache_creation_input_tokens=None, cache_read_input_tokens=None)])
async def test_partial_usage_never_crashes_and_what_is_missing_is_unknown(config, demo_path, clock, fake_api, usage):
    steps = [Reply([Text("Nothing to flag.")], usage=usage)]
    result, events, _, _ = await _run(config, demo_path, clock, fake_api, steps)
    assert result.status == "succeeded" and result.summary == "Nothing to flag."
    complete = usage.input_tokens is not None and usage.output_tokens is not None
    assert result.usage.get("unknown_requests", 0) == (0 if complete else 1)
    assert result.usage["input"] == (usage.input_tokens or 0) and result.usage["output"] == (usage.output_tokens or 0)


async def test_thinking_without_reported_usage_still_counts_in_the_budgets(config, demo_path, clock, fake_api):
    # the documented thinking stream reports no usage: its thinking and answer are estimated from what streamed
    long_thought = "Weighing each referral against the window. " * 200  # ~8.6 KB of thinking
    config = with_model(config, max_cost_per_run=0.04)
    config = with_workflow(config, "referral_check", thinking=ThinkingSetting(mode="budget", budget_tokens=4096))
    steps = [Reply([Thinking(long_thought, signature="sig-1"), ToolUse("get_referral_candidates", {})],
                   usage=NO_USAGE),
             Reply([Thinking(long_thought, signature="sig-2"), ToolUse("get_referral_candidates", {})],
                   usage=NO_USAGE),
             Reply([Text("No rewards were due.")], usage=NO_USAGE)]
    result, events, _, _ = await _run(config, demo_path, clock, fake_api, steps, workflow="referral_check")
    assert result.status == "budget_exhausted" and result.cost_usd == 0.0, result
    assert "cost budget" in result.error and "part of it estimated" in result.error
    # ~2,500 tokens of thinking at output prices: over the cap after the first answer, not after the third
    assert result.usage["unknown_requests"] == 1 and len(fake_api.requests) == 1
