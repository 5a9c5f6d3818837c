"""Prompt caching that pays, measured by the fake API applying the documented rules (tests/fakerules.py)."""

from __future__ import annotations

import pytest
from fakeapi import Reply, Text, ToolUse
from fakerules import PromptCache, RequestRejected, min_cacheable_tokens
from helpers_engine import engine, with_model

from gymconsole.config import ModelPrice

SONNET = ModelPrice(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30)


def _referral_run() -> list[Reply]:
    return [Reply([Text("Checking referrals."), ToolUse("get_referral_candidates", {})]),
            Reply([ToolUse("issue_referral_reward", {"referral_ids": []})]),
            Reply([Text("No referral rewards were due today.")])]


def _door_run() -> list[Reply]:
    return [Reply([ToolUse("get_door_access_status", {"limit": 3})]), Reply([Text("Nothing to change.")])]


def _usages(fake_api, since: int = 0) -> list:
    return [r.cache_usage for r in fake_api.requests[since:]]


async def test_a_run_reads_most_of_its_input_from_the_cache(config, demo_path, clock, fake_api):
    fake_api.cache.clock = clock.monotonic
    fake_api.script(_referral_run())
    async with engine(config, demo_path, clock, api=fake_api) as (services, _):
        result = await services.runner.run("referral_check")
    first, second, third = _usages(fake_api)
    prefix_minimum = min_cacheable_tokens(config.model.default_model)
    assert first.cache_read_input_tokens == 0 and first.cache_creation_input_tokens > prefix_minimum
    # each later request reads everything up to the previous turn, and writes only what is new
    assert second.cache_read_input_tokens >= first.cache_creation_input_tokens
    assert third.cache_read_input_tokens >= second.cache_read_input_tokens + second.cache_creation_input_tokens
    assert second.input_tokens < 50 and third.input_tokens < 50
    usage = result.usage
    share = usage["cache_read"] / (usage["input"] + usage["cache_read"] + usage["cache_write"])
    assert share >= 0.5, usage
    # a warm run (the shared prefix already cached by an earlier run) costs under a cent at Sonnet prices
    fake_api.script(_referral_run())
    clock.advance(60)
    async with engine(config, demo_path, clock, api=fake_api) as (services, _):
        warm = await services.runner.run("referral_check")
    assert warm.cost_usd < 0.01, warm.cost_usd


async def test_workflows_share_the_prefix_while_it_lives(config, demo_path, clock, fake_api):
    fake_api.cache.clock = clock.monotonic
    config = with_model(config, cache_ttl="5m")
    fake_api.script(_referral_run() + _door_run() + _door_run())
    async with engine(config, demo_path, clock, api=fake_api) as (services, _):
        await services.runner.run("referral_check")
        prefix = fake_api.requests[0].cache_usage.cache_creation_input_tokens
        clock.advance(240)  # another workflow four minutes later
        await services.runner.run("door_access")
        assert fake_api.requests[3].cache_usage.cache_read_input_tokens >= prefix - 100
        clock.advance(301)  # past the 5-minute lifetime: written again
        await services.runner.run("door_access")
        assert fake_api.requests[5].cache_usage.cache_read_input_tokens == 0


async def test_the_one_hour_lifetime_outlasts_a_half_hour_gap(config, demo_path, clock, fake_api):
    fake_api.cache.clock = clock.monotonic
    assert config.model.cache_ttl == "1h"  # shipped: the hourly workflows run 15 and 45 minutes apart
    fake_api.script(_door_run() + _door_run())
    async with engine(config, demo_path, clock, api=fake_api) as (services, _):
        first = await services.runner.run("door_access")
        clock.advance(1800)
        second = await services.runner.run("door_access")
    assert fake_api.requests[0].json["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert fake_api.requests[0].cache_usage.ephemeral_1h_input_tokens > 2048
    assert fake_api.requests[2].cache_usage.cache_read_input_tokens > 2048
    # an hour's write is priced at twice the input price
    assert first.cost_usd > second.cost_usd


def test_the_cache_follows_the_documented_rules():
    now = [0.0]
    cache = PromptCache(lambda: now[0])
    big = {"type": "text", "text": "x" * 4 * 2100, "cache_control": {"type": "ephemeral"}}
    body = {"model": "claude-sonnet-4-6", "system": [big], "messages": [{"role": "user", "content": "hi"}]}
    written = cache.apply(body).cache_creation_input_tokens
    assert written >= 2100 and cache.apply(body).cache_read_input_tokens == written
    # Haiku 4.5 needs 4,096 tokens: nothing cached, and no error
    assert cache.apply({**body, "model": "claude-haiku-4-5"}).cache_creation_input_tokens == 0
    now[0] += 301
    assert cache.apply(body).cache_read_input_tokens == 0  # expired after five minutes
    marked = [{"type": "text", "text": f"block {i}", "cache_control": {"type": "ephemeral"}} for i in range(5)]
    with pytest.raises(RequestRejected, match="maximum of 4 blocks with cache_control"):
        cache.apply({"model": "claude-sonnet-4-6", "system": marked, "messages": []})
