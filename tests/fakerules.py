"""The Messages API's documented request rules, applied by the fake server (tests/fakeapi.py).

Prompt caching (platform.claude.com, "Prompt caching"):

* The cache key is the exact prefix in the order tools -> system -> messages, up
  to and including a block marked with ``cache_control``; at most 4 such
  breakpoints per request (more is a 400).
* For each breakpoint the API looks for a cached entry at that block boundary
  and at up to 20 block boundaries before it, and reads the longest one found.
* A prefix shorter than the model's minimum cacheable length is not cached, and
  no error is given (``cache_creation_input_tokens`` stays 0).  Minimums: 4,096
  tokens for Opus 4.5/4.6 and Haiku 4.5, 2,048 for Sonnet 4.6 and Haiku 3/3.5,
  1,024 for the other Sonnet and Opus models.  (The tables in the docs have
  said 1,024 and 2,048 for Sonnet 4.6 at different times; the fake uses the
  stricter figure.)
* Lifetimes: ``ttl`` "5m" (default) or "1h", refreshed on every read.
* ``usage``: ``input_tokens`` (after the last cache hit or write),
  ``cache_creation_input_tokens``, ``cache_read_input_tokens``, and
  ``cache_creation`` split into ``ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``.
* Changing the thinking parameters invalidates cached message prefixes (tools and system stay cached).

Extended thinking ("Extended thinking", "Adaptive thinking"):

* ``budget_tokens`` at least 1,024 and below ``max_tokens`` (unless interleaved
  thinking is on: header ``anthropic-beta: interleaved-thinking-2025-05-14``).
* ``{"type": "adaptive"}`` only on models that support it (Opus 4.6/4.7, Sonnet 4.6);
  ``{"type": "enabled"}`` is refused by Opus 4.7.
* With thinking on, the assistant turn of a tool-use cycle must go back with its
  ``thinking`` / ``redacted_thinking`` blocks first and unmodified: a missing
  block or a changed signature is a 400.

Token counts are the fake's own, deterministic: a block's text (keys and values, no JSON escapes) / 4.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
INTERLEAVED_BETA = "interleaved-thinking-2025-05-14"
ADAPTIVE_MODELS = ("claude-opus-4-6", "claude-opus-4-7", "claude-sonnet-4-6")
ADAPTIVE_ONLY_MODELS = ("claude-opus-4-7",)


class RequestRejected(Exception):
    """A request the real API answers with 400 invalid_request_error; the message is the API's kind of words."""


def min_cacheable_tokens(model: str) -> int:
    if any(name in model for name in ("opus-4-5", "opus-4-6", "haiku-4-5")):
        return 4096
    if any(name in model for name in ("sonnet-4-6", "haiku-3")):
        return 2048
    return 1024


def _flatten(value: Any) -> str:
    """What the model reads of a block: its keys and values, without JSON's quoting and escapes."""
    if isinstance(value, dict):
        return " ".join(f"{key} {_flatten(item)}" for key, item in sorted(value.items()))
    if isinstance(value, list):
        return " ".join(_flatten(item) for item in value)
    return str(value)


def count_tokens(value: Any) -> int:
    """The fake's tokenizer: a block's text (keys and values) at 4 bytes a token, at least 1."""
    return max(1, math.ceil(len(_flatten(value).encode("utf-8")) / 4))


def _strip_marker(block: Any) -> Any:
    if isinstance(block, dict) and "cache_control" in block:
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


@dataclass
class _Block:
    tokens: int
    digest: str
    """Hash of the whole prefix up to and including this block."""
    ttl: str | None
    """The block's ``cache_control`` lifetime, when it is a breakpoint."""


def _blocks(body: dict[str, Any]) -> list[_Block]:
    """The request as the cache sees it: tools, then system blocks, then every message's content blocks."""
    model = str(body.get("model", ""))
    thinking = json.dumps(body.get("thinking"), sort_keys=True)
    items: list[tuple[str, Any]] = [("tool", t) for t in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, str):
        items.append(("system", {"type": "text", "text": system}))
    elif isinstance(system, list):
        items.extend(("system", block) for block in system)
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        for block in content or []:
            items.append((f"message:{message.get('role')}", block))
    running = hashlib.sha256(model.encode())
    blocks: list[_Block] = []
    for section, block in items:
        if section.startswith("message") and thinking != "null":
            running.update(thinking.encode())
            thinking = "null"  # once: the thinking parameters key every message prefix after this point
        stripped = _strip_marker(block)
        running.update(section.encode() + json.dumps(stripped, sort_keys=True, separators=(",", ":")).encode())
        marker = block.get("cache_control") if isinstance(block, dict) else None
        ttl = (marker.get("ttl") or "5m") if isinstance(marker, dict) else None
        blocks.append(_Block(count_tokens(stripped), running.copy().hexdigest(), ttl))
    return blocks


@dataclass
class CacheUsage:
    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    ephemeral_5m_input_tokens: int
    ephemeral_1h_input_tokens: int

    def as_dict(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens,
                "cache_creation_input_tokens": self.cache_creation_input_tokens,
                "cache_read_input_tokens": self.cache_read_input_tokens,
                "cache_creation": {"ephemeral_5m_input_tokens": self.ephemeral_5m_input_tokens,
                                   "ephemeral_1h_input_tokens": self.ephemeral_1h_input_tokens}}


class PromptCache:
    """The prompt cache of one API key (thread-safe); ``clock`` gives seconds (monotonic)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[str, float] = {}
        """Prefix digest -> expiry time."""
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _alive(self, digest: str, now: float) -> bool:
        expiry = self._entries.get(digest)
        return expiry is not None and expiry > now

    def apply(self, body: dict[str, Any]) -> CacheUsage:
        """Read and write the cache for one request, as the API does; the usage it reports."""
        blocks = _blocks(body)
        breakpoints = [i for i, block in enumerate(blocks) if block.ttl is not None]
        if len(breakpoints) > MAX_BREAKPOINTS:
            raise RequestRejected(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                                  f"Found {len(breakpoints)}.")
        cumulative, total = [], 0
        for block in blocks:
            total += block.tokens
            cumulative.append(total)
        minimum = min_cacheable_tokens(str(body.get("model", "")))
        with self._lock:
            now = self.clock()
            read_end = -1
            for bp in breakpoints:
                for j in range(bp, max(-1, bp - LOOKBACK_BLOCKS - 1), -1):
                    if self._alive(blocks[j].digest, now):
                        read_end = max(read_end, j)
                        break
            if read_end >= 0:
                ttl = max(TTL_SECONDS[blocks[bp].ttl or "5m"] for bp in breakpoints if bp >= read_end)
                self._entries[blocks[read_end].digest] = max(self._entries[blocks[read_end].digest], now + ttl)
            cache_read = cumulative[read_end] if read_end >= 0 else 0
            written = {"5m": 0, "1h": 0}
            position = read_end
            for bp in breakpoints:
                if bp <= position or cumulative[bp] < minimum:
                    continue
                ttl = blocks[bp].ttl or "5m"
                written[ttl] += cumulative[bp] - (cumulative[position] if position >= 0 else 0)
                self._entries[blocks[bp].digest] = now + TTL_SECONDS[ttl]
                position = bp
        creation = written["5m"] + written["1h"]
        return CacheUsage(total - cache_read - creation, cache_read, creation, written["5m"], written["1h"])


# --- extended thinking -------------------------------------------------------------


def _supports_adaptive(model: str) -> bool:
    return any(name in model for name in ADAPTIVE_MODELS)


def check_thinking(body: dict[str, Any], headers: dict[str, str], issued: dict[str, str],
                   thought_tool_ids: set[str]) -> None:
    """Raise RequestRejected where the real API would refuse the thinking parameters or the echoed blocks.

    ``issued`` maps each signature (or redacted data) the fake sent to the thinking text it signed;
    ``thought_tool_ids`` are the tool_use ids of answers that came with thinking.
    """
    thinking = body.get("thinking")
    model = str(body.get("model", ""))
    betas = {b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()}
    if isinstance(thinking, dict):
        kind = thinking.get("type")
        if kind == "adaptive" and not _supports_adaptive(model):
            raise RequestRejected(f"thinking.type.adaptive is not supported for model {model}. "
                                  "Use thinking.type.enabled with budget_tokens.")
        if kind == "enabled":
            if any(name in model for name in ADAPTIVE_ONLY_MODELS):
                raise RequestRejected(f'"thinking.type.enabled" is not supported for this model. '
                                      'Use "thinking.type.adaptive" and "output_config.effort".')
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                raise RequestRejected("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
            if budget >= int(body.get("max_tokens", 0)) and INTERLEAVED_BETA not in betas:
                raise RequestRejected("`max_tokens` must be greater than `thinking.budget_tokens`.")
    for number, message in enumerate(body.get("messages") or []):
        content = message.get("content")
        if message.get("role") != "assistant" or not isinstance(content, list):
            continue
        for block in content:
            if block.get("type") == "thinking":
                if issued.get(block.get("signature", "")) != block.get("thinking"):
                    raise RequestRejected(f"messages.{number}.content: Invalid `signature` in `thinking` block")
            elif block.get("type") == "redacted_thinking":
                if block.get("data") not in issued:
                    raise RequestRejected(f"messages.{number}.content: Invalid `data` in `redacted_thinking` block")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        _check_tool_turn_keeps_thinking(body.get("messages") or [], thought_tool_ids)


def _check_tool_turn_keeps_thinking(messages: list[dict[str, Any]], thought_tool_ids: set[str]) -> None:
    """The last assistant message, when it made tool calls the request answers, must start with its thinking."""
    if len(messages) < 2 or messages[-1].get("role") != "user":
        return
    last_user = messages[-1].get("content")
    answers_tools = isinstance(last_user, list) and any(b.get("type") == "tool_result" for b in last_user)
    assistant = messages[-2]
    content = assistant.get("content")
    if not answers_tools or assistant.get("role") != "assistant" or not isinstance(content, list) or not content:
        return
    thought = any(b.get("type") == "tool_use" and b.get("id") in thought_tool_ids for b in content)
    if not thought or content[0].get("type") in ("thinking", "redacted_thinking"):
        return
    raise RequestRejected(f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or `redacted_thinking`, "
                          f"but found `{content[0].get('type')}`. When `thinking` is enabled, a final `assistant` "
                          "message must start with a thinking block.")
