"""The input-token limiter, retry-after parsing, backoff and request estimates, on their own."""

from __future__ import annotations

import random

from fakeclock import FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st

from gymconsole.engine.ratelimit import (
    ConversationEstimate,
    InputTokenLimiter,
    backoff_seconds,
    estimate_tokens,
    retry_after_seconds,
)


async def test_limiter_waits_for_the_oldest_tokens_to_leave_the_window():
    clock = FakeClock()
    limiter = InputTokenLimiter(clock, 10_000)
    waits: list[tuple[float, str]] = []

    async def on_wait(seconds: float, reason: str) -> None:
        waits.append((seconds, reason))

    await limiter.acquire(6_000, on_wait)
    clock.advance(20)
    await limiter.acquire(3_000, on_wait)
    assert waits == [] and limiter.used() == 9_000
    await limiter.acquire(2_000, on_wait)  # must wait for the first 6,000 to leave: 40 s more
    assert [w for w, _ in waits] == [40.0] and "10,000 per minute" in waits[0][1]
    assert limiter.used() == 5_000


async def test_limiter_lets_an_oversized_request_go_alone():
    clock = FakeClock()
    limiter = InputTokenLimiter(clock, 1_000)
    await limiter.acquire(5_000)
    assert clock.sleeps == []
    await limiter.acquire(10)
    assert clock.sleeps == [60.0]


async def test_settle_replaces_the_estimate():
    clock = FakeClock()
    limiter = InputTokenLimiter(clock, 10_000)
    reservation = await limiter.acquire(9_000)
    limiter.settle(reservation, 2_000)
    await limiter.acquire(8_000)
    assert clock.sleeps == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 9_000), st.floats(0, 30)), min_size=1, max_size=25))
def test_no_window_ever_exceeds_the_limit(requests):
    import asyncio

    clock = FakeClock()
    limiter = InputTokenLimiter(clock, 20_000)
    sent: list[tuple[float, int]] = []

    async def go() -> None:
        for tokens, gap in requests:
            clock.advance(gap)
            await limiter.acquire(tokens)
            sent.append((clock.monotonic(), tokens))

    asyncio.run(go())
    for start, _ in sent:
        assert sum(t for at, t in sent if start <= at < start + 60) <= 20_000


def test_retry_after_headers():
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"retry-after": "9"}) == 9.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past


def test_backoff_doubles_with_jitter_and_is_capped():
    rng = random.Random(1)
    for attempt in range(8):
        delay = backoff_seconds(attempt, 1.0, 20.0, rng)
        full = min(20.0, 2.0 ** attempt)
        assert full / 2 <= delay <= full


def test_conversation_estimate_learns_from_reported_usage():
    estimate = ConversationEstimate()
    assert estimate.estimate(3_500) == estimate_tokens(3_500) == 1_000
    estimate.learn(3_500, 5_000)  # the API counted more than the bytes suggested
    assert estimate.estimate(7_000) == 5_000 + 1_000
