"""Configuration sections about how the console talks to Claude: models, prices, budgets, thinking.

Part of :mod:`gymconsole.config` (which re-exports them), written the same way: plain sections whose
annotations stay strings until a configuration is validated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from gymconsole.config_base import ConfigSection, spec

if TYPE_CHECKING:
    from pydantic import Field


class ThinkingSetting(ConfigSection):
    """Extended thinking: off, a fixed token budget, or adaptive (where the model takes it)."""

    mode: Literal["off", "budget", "adaptive"] = "off"
    """`off`, `budget` (thinking.type enabled with budget_tokens) or `adaptive` (Opus 4.6+, Sonnet 4.6)."""
    budget_tokens: Annotated[int, Field(ge=1024, le=64_000)] = 4096
    """Tokens the model may think with (budget mode), added to `model.max_output_tokens` for each request."""
    interleaved: bool = True
    """Think between tool calls too (budget mode; adaptive thinking always does)."""


class ModelPrice(ConfigSection):
    """USD per million tokens."""

    input: Annotated[float, Field(ge=0)]
    """Uncached input tokens."""
    output: Annotated[float, Field(ge=0)]
    """Output tokens."""
    cache_write: Annotated[float, Field(ge=0)]
    """Tokens written to the prompt cache."""
    cache_read: Annotated[float, Field(ge=0)]
    """Tokens read from the prompt cache."""
    cache_write_1h: Annotated[float | None, Field(ge=0)] = None
    """Tokens written to the prompt cache for an hour; empty is twice `input`, as the API prices it."""

    @property
    def cache_write_hour(self) -> float:
        return self.cache_write_1h if self.cache_write_1h is not None else self.input * 2


class ModelAccess(ConfigSection):
    """How the console talks to Claude."""

    default_model: str = "claude-sonnet-4-6"
    """Model used when a workflow names none."""
    max_output_tokens: Annotated[int, Field(ge=64)] = 2048
    """`max_tokens` of each request."""
    input_tokens_per_minute: Annotated[int, Field(ge=1000)] = 20_000
    """Client-side cap on input tokens sent per minute (the API tier's limit)."""
    max_retries: Annotated[int, Field(ge=0, le=20)] = 4
    """Retries of one request after 429/529/5xx or a dropped connection."""
    retry_base_seconds: Annotated[float, Field(gt=0)] = 1.0
    """First backoff wait; doubles on each retry, with jitter."""
    retry_max_seconds: Annotated[float, Field(gt=0)] = 60.0
    """Longest single wait, whatever `retry-after` says."""
    request_timeout_seconds: Annotated[float, Field(gt=0)] = 120.0
    """Timeout of one request."""
    max_tokens_per_run: Annotated[int, Field(ge=1000)] = 60_000
    """Budget: input+output tokens of one run."""
    max_cost_per_run: Annotated[float, Field(gt=0)] = 0.50
    """Budget: USD one run may spend."""
    prices: dict[str, ModelPrice] = spec(factory=dict)
    """Per-model prices for cost accounting."""
    max_continuations: Annotated[int, Field(ge=0, le=10)] = 2
    """Times an answer cut off at `max_output_tokens` (or paused by the API) is continued before the run ends `truncated`."""
    max_wait_seconds: Annotated[float, Field(ge=0)] = 120.0
    """Longest wait the API may ask for (`retry-after`) within a run; longer ends the run `rate_limited`."""
    thinking: ThinkingSetting = spec(factory=ThinkingSetting)
    """Extended thinking of every workflow that sets none."""
    daily_budget_usd: Annotated[float | None, Field(gt=0)] = None
    """Claude spend allowed per local day (all workflows); empty is no limit."""
    monthly_budget_usd: Annotated[float | None, Field(gt=0)] = None
    """Claude spend allowed per calendar month; empty is no limit."""
    on_budget_reached: Literal["offline", "wait"] = "offline"
    """When a limit is reached, scheduled runs use their `offline` playbook or `wait` until it resets."""
    cache_ttl: Literal["5m", "1h"] = "1h"
    """Lifetime of the shared prompt prefix in the cache: `1h` pays when runs are more than 5 minutes apart."""

    def price_for(self, model: str) -> ModelPrice:
        """The price of `model`, or of the longest configured prefix of it."""
        for name in sorted(self.prices, key=len, reverse=True):
            if model.startswith(name):
                return self.prices[name]
        return ModelPrice.model_construct(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30)
