"""Rate limits and faults: retry-after, backoff, dropped and truncated streams, final errors, pacing, the key."""

from __future__ import annotations

import json
from datetime import timedelta
import logging

import pytest
from fakeapi import Drop, Reply, Status, StreamError, Text, ToolUse, Usage
from helpers_engine import KEY, answer_yes, engine, with_model

DONE = Reply([Text("All done.")])


async def _run(config, demo_path, clock, fake_api, steps, workflow="referral_check", **kw):
    fake_api.script(steps)
    async with engine(config, demo_path, clock, api=fake_api, **kw) as (services, events):
        result = await services.runner.run(workflow)
        run = await services.history.get_run(result.run_id)
    return result, events, run


async def test_429_honours_retry_after_on_the_fake_clock(config, demo_path, clock, fake_api):
    result, events, _ = await _run(config, demo_path, clock, fake_api, [Status(429, {"retry-after": "7"}), DONE])
    assert result.status == "succeeded" and result.summary == "All done."
    assert clock.sleeps == [7.0]
    wait = events.of("rate_limit_wait")
    assert [w.seconds for w in wait] == [7.0] and "rate limited (429" in wait[0].reason and "retry 1 of 4" in wait[0].reason
    assert len(fake_api.requests) == 2
    assert all(r.headers["x-stainless-retry-count"] == "0" for r in fake_api.requests)  # the SDK did not retry itself


async def test_529_honours_retry_after_ms(config, demo_path, clock, fake_api):
    result, events, _ = await _run(config, demo_path, clock, fake_api, [Status(529, {"retry-after-ms": "1500"}), DONE])
    assert result.status == "succeeded" and clock.sleeps == [1.5]
    assert "overloaded" in events.of("rate_limit_wait")[0].reason


async def test_retry_after_is_never_cut_short(config, demo_path, clock, fake_api):
    # the server asks for 5 s with the backoff cap at 2 s: the retry waits the full 5 s
    config = with_model(config, retry_max_seconds=2.0)
    result, _, _ = await _run(config, demo_path, clock, fake_api, [Status(429, {"retry-after": "5"}), DONE])
    assert result.status == "succeeded" and clock.sleeps == [5.0]


async def test_a_wait_longer_than_max_wait_ends_the_run_rate_limited(config, demo_path, clock, fake_api):
    config = with_model(config, max_wait_seconds=60.0)
    result, events, run = await _run(config, demo_path, clock, fake_api, [Status(429, {"retry-after": "900"}), DONE])
    assert result.status == "rate_limited" and run["status"] == "rate_limited"
    assert clock.sleeps == [] and len(fake_api.requests) == 1  # no retry that would surely fail
    assert "asked to wait 900 s" in result.error and "model.max_wait_seconds (60 s)" in result.error
    assert result.resume_at == clock.now() + timedelta(seconds=900)
    assert events.of("run_finished")[0].resume_at == result.resume_at.isoformat()
    assert "900" in str(events.of("rate_limit_wait")[0].seconds)


async def test_a_500_with_an_html_page_shows_the_status_not_the_page(config, demo_path, clock, fake_api):
    page = "<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"
    config = with_model(config, max_retries=1)
    result, events, _ = await _run(config, demo_path, clock, fake_api, [Status(500, html=page), Status(500, html=page)])
    assert result.status == "failed"
    assert "500" in result.error and "Internal Server Error" in result.error and "text/html" in result.error
    assert "<" not in result.error and "nginx" not in events.dump()


async def test_500_backs_off_exponentially_with_jitter(config, demo_path, clock, fake_api):
    steps = [Status(500), Status(503), Status(500), DONE]
    result, events, _ = await _run(config, demo_path, clock, fake_api, steps)
    assert result.status == "succeeded"
    assert len(clock.sleeps) == 3
    for attempt, slept in enumerate(clock.sleeps):
        full = config.model.retry_base_seconds * 2 ** attempt
        assert full / 2 <= slept <= full
    assert len(events.of("rate_limit_wait")) == 3


@pytest.mark.parametrize("fault", [
    Drop(after_events=3, reply=Reply([Text("partial answer that never ends", chunks=4)])),
    Drop(after_events=3, reply=Reply([Text("cut cleanly", chunks=4)]), clean_eof=True),
    StreamError(after_events=3, reply=Reply([Text("partial answer", chunks=4)])),
], ids=["dropped-connection", "truncated-stream", "sse-error-event"])
async def test_mid_stream_faults_are_retried(config, demo_path, clock, fake_api, fault):
    result, events, _ = await _run(config, demo_path, clock, fake_api, [fault, DONE])
    assert result.status == "succeeded" and result.summary == "All done."
    assert len(fake_api.requests) == 2 and len(clock.sleeps) == 1
    notices = [e for e in events.all if e.kind == "notice" and "partial text above is discarded" in e.message]
    assert len(notices) == 1
    assert events.all.index(notices[0]) < events.kinds().index("rate_limit_wait")


async def test_truncated_tool_call_is_never_run(config, demo_path, clock, fake_api):
    referral = await _first_referral(config, demo_path, clock)
    cut = Reply([ToolUse("issue_referral_reward", {"referral_ids": [referral]})])
    # message_start, block start, the input JSON, block stop: then the stream ends without a stop reason
    result, events, _ = await _run(config, demo_path, clock, fake_api,
                                   [Drop(after_events=4, reply=cut, clean_eof=True), DONE], asker=answer_yes)
    assert result.status == "succeeded"
    assert events.of("tool_started") == [] and result.tool_calls == []
    assert "stop reason" in events.of("rate_limit_wait")[0].reason


async def _first_referral(config, demo_path, clock) -> int:
    async with engine(config, demo_path, clock, offline=True) as (services, _):
        row = await services.db.fetch_one("SELECT id FROM referrals WHERE status = 'joined' ORDER BY id DESC LIMIT 1")
        return row["id"]


async def test_retries_exhausted_fail_with_one_line_reason(config, demo_path, clock, fake_api):
    config = with_model(config, max_retries=2)
    steps = [Reply([Text("Checking referrals."), ToolUse("get_referral_candidates", {})]), Status(500), Status(529), Status(500)]
    result, events, run = await _run(config, demo_path, clock, fake_api, steps)
    assert result.status == "failed"
    assert result.error.startswith("gave up after 3 attempts: the API failed (500 api_error")
    assert "\n" not in result.error
    assert len(clock.sleeps) == 2 and len(fake_api.requests) == 4
    # what happened before stays recorded
    assert result.tool_calls[0]["name"] == "get_referral_candidates" and result.summary == "Checking referrals."
    assert run["status"] == "failed" and run["error"] == result.error
    assert events.kinds()[-1] == "run_finished"


@pytest.mark.parametrize("code, words", [(401, "refused the key"), (400, "refused the request"), (403, "may not")])
async def test_final_errors_fail_at_once(config, demo_path, clock, fake_api, code, words):
    result, _, run = await _run(config, demo_path, clock, fake_api, [Status(code), DONE])
    assert result.status == "failed" and words in result.error and str(code) in result.error
    assert len(fake_api.requests) == 1 and clock.sleeps == []
    assert run["status"] == "failed"


async def test_should_retry_false_is_final(config, demo_path, clock, fake_api):
    result, _, _ = await _run(config, demo_path, clock, fake_api, [Status(500, {"x-should-retry": "false"}), DONE])
    assert result.status == "failed" and len(fake_api.requests) == 1


async def test_limiter_paces_a_run_under_the_input_token_limit(config, demo_path, clock, fake_api):
    config = with_model(config, input_tokens_per_minute=20_000)
    per_request = 7_000
    steps = [Reply([ToolUse("get_referral_candidates", {"limit": 1})], usage=Usage(per_request, 50)) for _ in range(4)]
    steps.append(Reply([Text("Paced.")], usage=Usage(per_request, 20)))
    sends: list[tuple[float, int]] = []
    fake_api.script(steps)
    async with engine(config, demo_path, clock, api=fake_api) as (services, events):
        services.bus.subscribe(lambda e: sends.append((clock.monotonic(), per_request)) if e.kind == "usage" else None)
        result = await services.runner.run("referral_check")
    assert result.status == "succeeded" and len(sends) == 5
    waits = events.of("rate_limit_wait")
    assert waits and all(w.reason.startswith("pacing") for w in waits)
    assert sum(clock.sleeps) > 60  # 35,000 tokens at 20,000 a minute cannot go out in one minute
    for start, _ in sends:
        in_window = sum(tokens for at, tokens in sends if start <= at < start + 60)
        assert in_window <= 20_000, (start, sends)


async def test_the_key_appears_only_in_the_authorization_header(config, demo_path, clock, fake_api, caplog):
    caplog.set_level(logging.DEBUG)
    steps = [Reply([Text("Hi."), ToolUse("get_referral_candidates", {})]), Status(529), DONE]
    result, events, _ = await _run(config, demo_path, clock, fake_api, steps)
    fake_api.script([Status(401, message=f"invalid x-api-key {KEY}")])  # a server echoing the key back
    async with engine(config, demo_path, clock, api=fake_api) as (services, more):
        failed = await services.runner.run("referral_check")
        dump = "\n".join(await _all_rows(services.db))
    assert result.status == "succeeded" and failed.status == "failed"
    assert "[redacted]" in failed.error and KEY not in failed.error
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake_api.requests)
    assert KEY not in fake_api.text_of_all_requests()
    assert KEY not in events.dump() and KEY not in more.dump()
    assert KEY not in dump and "referral_check" in dump
    assert KEY not in caplog.text
    assert KEY not in json.dumps([result.as_dict(), failed.as_dict()])


async def _all_rows(db) -> list[str]:
    tables = [r["name"] for r in await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")]
    out = []
    for table in tables:
        out += [json.dumps(row, default=str) for row in await db.fetch_all(f"SELECT * FROM {table}")]
    return out
