"""Pacing and retries for Claude requests: an input-token limiter, backoff, and fault classification.

The limiter keeps a sliding 60-second window of input tokens sent, on the
injected :class:`~gymconsole.clock.Clock`.  Before a request goes out its input
tokens are estimated generously from the request's size; after the answer the
entry is corrected with what the API reported.  One limiter is shared by every
run of the process, because the API's limit is per key, not per run.

Faults are classified into retryable ones (429/529 with their ``retry-after``,
5xx, connection errors, a stream cut mid-answer, an error event inside the
stream, a stream that ended without a stop reason) and final ones (401, 400...).
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from gymconsole.clock import Clock

WINDOW_SECONDS = 60.0
BYTES_PER_TOKEN = 3.5
"""Generous: JSON request bodies run at about 4 bytes a token; fewer bytes per token over-estimates."""

RETRYABLE_STREAM_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})


def estimate_tokens(request_bytes: int) -> int:
    """A generous estimate of a request's input tokens from its JSON size."""
    return math.ceil(request_bytes / BYTES_PER_TOKEN)


class ConversationEstimate:
    """Estimates each request of one conversation, learning from the usage reported so far.

    Each request repeats the previous one plus what was added, so its input is
    at least the previous request's reported input plus an estimate of the new
    bytes: this corrects a byte estimate that would otherwise run low.
    """

    def __init__(self) -> None:
        self._last_bytes = 0
        self._last_tokens = 0

    def estimate(self, request_bytes: int) -> int:
        by_size = estimate_tokens(request_bytes)
        if not self._last_tokens:
            return by_size
        return max(by_size, self._last_tokens + estimate_tokens(max(0, request_bytes - self._last_bytes)))

    def learn(self, request_bytes: int, reported_input_tokens: int) -> None:
        self._last_bytes = request_bytes
        self._last_tokens = reported_input_tokens


@dataclass
class Reservation:
    """One request's place in the window."""

    at: float
    tokens: int


WaitHook = Callable[[float, str], Awaitable[None]]


class InputTokenLimiter:
    """Keeps the input tokens sent in any 60-second window under ``tokens_per_minute``."""

    def __init__(self, clock: Clock, tokens_per_minute: int, window: float = WINDOW_SECONDS) -> None:
        self.clock = clock
        self.limit = tokens_per_minute
        self.window = window
        self._entries: deque[Reservation] = deque()

    def _prune(self) -> None:
        horizon = self.clock.monotonic() - self.window
        while self._entries and self._entries[0].at <= horizon:
            self._entries.popleft()

    def used(self) -> int:
        """Input tokens counted in the current window."""
        self._prune()
        return sum(entry.tokens for entry in self._entries)

    def wait_needed(self, tokens: int) -> float:
        """Seconds until ``tokens`` more fit in the window (0 when they fit now)."""
        self._prune()
        used = sum(entry.tokens for entry in self._entries)
        if used + tokens <= self.limit or not self._entries:
            return 0.0  # a single request larger than the limit goes alone into an empty window
        now = self.clock.monotonic()
        if tokens > self.limit:
            return max(0.0, max(e.at for e in self._entries) + self.window - now)
        excess, freed = used + tokens - self.limit, 0
        for entry in sorted(self._entries, key=lambda e: e.at):
            freed += entry.tokens
            if freed >= excess:
                return max(0.0, entry.at + self.window - now)
        return 0.0  # not reached: freeing every entry always suffices

    async def acquire(self, tokens: int, on_wait: WaitHook | None = None) -> Reservation:
        """Wait (on the clock) until ``tokens`` fit, then count them; ``on_wait(seconds, reason)`` is told first."""
        while True:
            wait = self.wait_needed(tokens)
            if wait <= 0:
                reservation = Reservation(self.clock.monotonic(), tokens)
                self._entries.append(reservation)
                return reservation
            used = self.used()
            reason = (f"pacing: ~{tokens:,} input tokens would exceed {self.limit:,} per minute "
                      f"({used:,} sent in the last {self.window:.0f} s)")
            if on_wait is not None:
                await on_wait(wait, reason)
            await self.clock.sleep(wait)

    def settle(self, reservation: Reservation, tokens: int) -> None:
        """Replace a reservation's estimate with the input tokens the API reported."""
        reservation.tokens = tokens


# --- retries ---------------------------------------------------------------------


def retry_after_seconds(headers: Any) -> float | None:
    """``retry-after-ms``, then ``retry-after`` (seconds or an HTTP date), or None."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                moment = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            return max(0.0, (moment - datetime.now(UTC)).total_seconds())
    return None


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with equal jitter: half fixed, half random; ``attempt`` counts from 0."""
    delay = min(cap, base * (2 ** attempt))
    return delay / 2 + rng.random() * delay / 2


class StreamTruncated(Exception):
    """The answer stream ended without a stop reason (cut off); retried, never acted on."""


@dataclass(frozen=True)
class Fault:
    """What went wrong with one request, and whether to try again."""

    retryable: bool
    reason: str
    retry_after: float | None = None
    rate_limited: bool = False


def _api_message(exc: Any) -> tuple[str, str]:
    """The API's own error type and message; for a body that is not the API's JSON (a proxy's HTML page), the
    HTTP reason and the content type, never the body itself."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return str(error.get("type", "error")), " ".join(str(error.get("message", "")).split())[:200]
    response = getattr(exc, "response", None)
    if response is None:
        return "error", " ".join(str(getattr(exc, "message", exc)).split())[:200]
    reason = getattr(response, "reason_phrase", "") or "error"
    content_type = response.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    return "error", f"{reason} (the answer was {content_type}, not the API's JSON)"


def classify_fault(exc: BaseException) -> Fault | None:
    """A fault for exceptions a Claude request can raise; None for anything else (a bug)."""
    import anthropic
    import httpx2

    if isinstance(exc, StreamTruncated):
        return Fault(True, "the answer stream ended before the model finished (no stop reason)")
    if isinstance(exc, anthropic.APIStatusError):
        kind, message = _api_message(exc)
        status = exc.status_code
        detail = f"{status} {kind}: {message}" if message else f"{status} {kind}"
        if status == 200:  # an `event: error` inside the stream
            return Fault(kind in RETRYABLE_STREAM_ERRORS, f"the API sent an error mid-answer ({kind}: {message})",
                         rate_limited=kind in ("overloaded_error", "rate_limit_error"))
        headers = exc.response.headers if exc.response is not None else None
        should_retry = headers.get("x-should-retry") if headers is not None else None
        if status == 401:
            return Fault(False, f"the API refused the key ({detail}); check ANTHROPIC_API_KEY")
        if status == 403:
            return Fault(False, f"the API key may not do this ({detail})")
        retryable = status in (408, 409, 429, 529) or status >= 500
        if should_retry in ("true", "false"):
            retryable = should_retry == "true"
        rate_limited = status in (429, 529)
        label = {429: "rate limited", 529: "the API is overloaded"}.get(status, "the API failed")
        if not retryable:
            return Fault(False, f"the API refused the request ({detail})")
        return Fault(True, f"{label} ({detail})", retry_after_seconds(headers), rate_limited=rate_limited)
    if isinstance(exc, anthropic.APITimeoutError):
        return Fault(True, "the request timed out")
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__
        return Fault(True, f"could not reach the API ({type(cause).__name__ if cause else 'connection error'})")
    if isinstance(exc, httpx2.TransportError):
        return Fault(True, f"the connection dropped mid-answer ({type(exc).__name__})")
    return None
