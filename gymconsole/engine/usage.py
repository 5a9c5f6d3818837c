"""Token usage and cost of one run, from the API's reported usage and the configured prices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gymconsole.config import ModelPrice


@dataclass
class UsageTotals:
    """Cumulative usage of a run; ``input`` is uncached input tokens, as the API reports them."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        """Every token of the run, cached or not: what ``max_tokens_per_run`` budgets."""
        return self.input + self.output + self.cache_read + self.cache_write

    def add(self, price: ModelPrice, *, input: int, output: int, cache_read: int = 0, cache_write: int = 0) -> None:
        """Add one response's usage and its cost."""
        self.input += input
        self.output += output
        self.cache_read += cache_read
        self.cache_write += cache_write
        self.cost_usd += cost_of(price, input=input, output=output, cache_read=cache_read, cache_write=cache_write)

    def as_dict(self) -> dict[str, Any]:
        """The ``usage`` object of a :class:`RunResult` (and of ``gymconsole run --json``)."""
        return {"input": self.input, "output": self.output, "cache_read": self.cache_read,
                "cache_write": self.cache_write}


def cost_of(price: ModelPrice, *, input: int, output: int, cache_read: int = 0, cache_write: int = 0) -> float:
    """USD for these tokens at ``price`` (USD per million tokens)."""
    return (input * price.input + output * price.output + cache_read * price.cache_read
            + cache_write * price.cache_write) / 1_000_000
