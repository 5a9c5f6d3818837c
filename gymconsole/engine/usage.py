"""Token usage and cost of one run, from the API's reported usage and the configured prices.

The API does not always report usage (the documented extended-thinking stream
carries none): a request whose usage is missing, in whole or in part, is
counted in ``unknown_requests`` and its cost is not known.  Nothing missing is
counted as zero silently; budgets use the request's estimate instead.
Thinking tokens are output tokens, as the API bills them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gymconsole.config import ModelPrice


@dataclass
class RequestUsage:
    """One response's usage; None where the API did not say."""

    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    cache_write_1h: int = 0
    """Of ``cache_write``, the tokens written for an hour (priced higher)."""

    @property
    def complete(self) -> bool:
        return self.input is not None and self.output is not None

    @property
    def input_total(self) -> int:
        """Every input token reported (uncached, read and written)."""
        return (self.input or 0) + (self.cache_read or 0) + (self.cache_write or 0)


@dataclass
class UsageTotals:
    """Cumulative usage of a run; ``input`` is uncached input tokens, as the API reports them."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cache_write_1h: int = 0
    cost_usd: float = 0.0
    unknown_requests: int = 0
    """Requests whose usage the API did not report (in whole or in part): their cost is unknown."""
    estimated_tokens: int = 0
    """For those requests, the estimate budgets count instead (input from the request's size, output, thinking
    included, from what was streamed)."""
    estimated_cost_usd: float = 0.0
    """The cost of ``estimated_tokens`` at input and output prices: counted by the cost budget, not in ``cost_usd``."""

    @property
    def total_tokens(self) -> int:
        """Every token of the run, cached or not: what ``max_tokens_per_run`` budgets."""
        return self.input + self.output + self.cache_read + self.cache_write + self.estimated_tokens

    def add(self, price: ModelPrice, *, input: int, output: int, cache_read: int = 0, cache_write: int = 0,
            cache_write_1h: int = 0) -> None:
        """Add one response's usage and its cost."""
        self.input += input
        self.output += output
        self.cache_read += cache_read
        self.cache_write += cache_write
        self.cache_write_1h += cache_write_1h
        self.cost_usd += cost_of(price, input=input, output=output, cache_read=cache_read, cache_write=cache_write,
                                 cache_write_1h=cache_write_1h)

    def add_reported(self, price: ModelPrice, usage: RequestUsage, estimate: int, output_estimate: int = 0) -> None:
        """Add what the API reported; a gap makes the request unknown and its estimates count for budgets."""
        self.add(price, input=usage.input or 0, output=usage.output or 0, cache_read=usage.cache_read or 0,
                 cache_write=usage.cache_write or 0, cache_write_1h=usage.cache_write_1h)
        if not usage.complete:
            self.unknown_requests += 1
            missing_input = max(0, estimate - usage.input_total)
            missing_output = output_estimate if usage.output is None else 0
            self.estimated_tokens += missing_input + missing_output
            self.estimated_cost_usd += (missing_input * price.input + missing_output * price.output) / 1_000_000

    def as_dict(self) -> dict[str, Any]:
        """The ``usage`` object of a :class:`RunResult` (and of ``gymconsole run --json``)."""
        data: dict[str, Any] = {"input": self.input, "output": self.output, "cache_read": self.cache_read,
                                "cache_write": self.cache_write}
        if self.unknown_requests:
            data["unknown_requests"] = self.unknown_requests
        return data

    @property
    def cache_share(self) -> float:
        """Share of the input tokens read from the cache (0 when there were none)."""
        total = self.input + self.cache_read + self.cache_write
        return self.cache_read / total if total else 0.0


def cost_of(price: ModelPrice, *, input: int, output: int, cache_read: int = 0, cache_write: int = 0,
            cache_write_1h: int = 0) -> float:
    """USD for these tokens at ``price`` (USD per million tokens); ``cache_write_1h`` is part of ``cache_write``."""
    five_minute_writes = cache_write - cache_write_1h
    return (input * price.input + output * price.output + cache_read * price.cache_read
            + five_minute_writes * price.cache_write + cache_write_1h * price.cache_write_hour) / 1_000_000
