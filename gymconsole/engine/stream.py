"""One streamed answer from Claude, assembled from the raw SSE events.

We read the raw events of ``messages.create(stream=True)`` rather than
``messages.stream()``'s accumulator, which raises on malformed tool-input JSON
and loses the rest of the answer: here a malformed input becomes an
``is_error`` tool result the model can correct.

``thinking`` and ``redacted_thinking`` blocks are kept exactly as received,
signature included, and go back in the next request unchanged (the API
answers 400 otherwise).  ``usage`` may be missing from ``message_start`` and
``message_delta`` (the documented thinking stream has none): what is missing
stays None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gymconsole.engine.events import ThinkingBlock, ThinkingDelta
from gymconsole.engine.ratelimit import StreamTruncated
from gymconsole.engine.session import RunSession
from gymconsole.engine.usage import RequestUsage

_USAGE_FIELDS = (("input_tokens", "input"), ("output_tokens", "output"), ("cache_read_input_tokens", "cache_read"),
                 ("cache_creation_input_tokens", "cache_write"))


@dataclass
class ToolUse:
    id: str
    name: str
    parts: list[str] = field(default_factory=list)
    input: Any = None
    error: str | None = None

    def finish(self) -> None:
        raw = "".join(self.parts)
        if not raw.strip():
            self.input = {}
            return
        from gymconsole.tools.base import JsonTooBig, loads_bounded

        try:
            self.input = loads_bounded(raw)
        except json.JSONDecodeError as exc:
            self.input, self.error = raw, f"malformed JSON input ({exc.msg} at character {exc.pos}); send valid JSON"
        except JsonTooBig as exc:
            self.input, self.error = raw[:200], f"{exc}; send the tool's arguments as its schema describes"


@dataclass
class Answer:
    """Blocks in order: ``str`` for text, :class:`ToolUse`, or a dict for thinking blocks (kept verbatim)."""

    blocks: list[Any] = field(default_factory=list)
    stop_reason: str | None = None
    usage: RequestUsage = field(default_factory=RequestUsage)
    streamed_text: bool = False

    @property
    def text(self) -> str:
        return "".join(block for block in self.blocks if isinstance(block, str))

    @property
    def tool_uses(self) -> list[ToolUse]:
        return [block for block in self.blocks if isinstance(block, ToolUse)]

    def echo(self) -> list[dict[str, Any]]:
        """The answer as the assistant turn of the next request: thinking blocks exactly as received."""
        content: list[dict[str, Any]] = []
        for block in self.blocks:
            if isinstance(block, dict):
                content.append(dict(block))
            elif isinstance(block, str):
                if block.strip():
                    content.append({"type": "text", "text": block})
            else:
                tool_input = block.input if isinstance(block.input, dict) else {}
                content.append({"type": "tool_use", "id": block.id, "name": block.name, "input": tool_input})
        return content


def _read_usage(answer: Answer, usage: Any) -> None:
    """Take whatever fields ``usage`` has; a later event's figure replaces an earlier one."""
    if usage is None:
        return
    for api_name, ours in _USAGE_FIELDS:
        value = getattr(usage, api_name, None)
        if isinstance(value, int):
            setattr(answer.usage, ours, value)
    split = getattr(usage, "cache_creation", None)
    hour = getattr(split, "ephemeral_1h_input_tokens", None) if split is not None else None
    if isinstance(hour, int):
        answer.usage.cache_write_1h = hour


async def stream_once(client: Any, session: RunSession, body: dict[str, Any], answer: Answer,
                      headers: dict[str, str]) -> None:
    """Send one request and assemble its answer into ``answer``; StreamTruncated if it ends without a stop reason."""
    stream = await client.messages.create(**body, stream=True, extra_headers=headers or None)
    by_index: dict[int, int] = {}
    try:
        async for event in stream:
            kind = event.type
            if kind == "message_start":
                _read_usage(answer, getattr(event.message, "usage", None))
            elif kind == "content_block_start":
                await _block_start(session, answer, by_index, event.index, event.content_block)
            elif kind == "content_block_delta" and event.index in by_index:
                await _block_delta(session, answer, by_index[event.index], event.delta)
            elif kind == "content_block_stop" and event.index in by_index:
                block = answer.blocks[by_index[event.index]]
                if isinstance(block, dict) and block.get("type") == "thinking":
                    await session.emit(ThinkingBlock, text=block["thinking"])
            elif kind == "message_delta":
                answer.stop_reason = event.delta.stop_reason
                _read_usage(answer, getattr(event, "usage", None))
    finally:
        await stream.close()
    if answer.stop_reason is None:
        raise StreamTruncated()
    for use in answer.tool_uses:
        use.finish()


async def _block_start(session: RunSession, answer: Answer, by_index: dict[int, int], index: int, block: Any) -> None:
    if block.type == "text":
        by_index[index] = len(answer.blocks)
        answer.blocks.append(block.text or "")
        if block.text:
            answer.streamed_text = True
            await session.say(block.text)
    elif block.type == "tool_use":
        by_index[index] = len(answer.blocks)
        answer.blocks.append(ToolUse(block.id, block.name))
    elif block.type == "thinking":
        by_index[index] = len(answer.blocks)
        answer.blocks.append({"type": "thinking", "thinking": getattr(block, "thinking", "") or "",
                              "signature": getattr(block, "signature", "") or ""})
    elif block.type == "redacted_thinking":
        by_index[index] = len(answer.blocks)
        answer.blocks.append({"type": "redacted_thinking", "data": block.data})
        await session.emit(ThinkingBlock, text="", redacted=True)


async def _block_delta(session: RunSession, answer: Answer, position: int, delta: Any) -> None:
    block = answer.blocks[position]
    if delta.type == "text_delta" and isinstance(block, str):
        answer.blocks[position] = block + delta.text
        answer.streamed_text = True
        await session.say(delta.text)
    elif delta.type == "input_json_delta" and isinstance(block, ToolUse):
        block.parts.append(delta.partial_json)
    elif delta.type == "thinking_delta" and isinstance(block, dict):
        block["thinking"] += delta.thinking
        await session.emit(ThinkingDelta, text=delta.thinking)
    elif delta.type == "signature_delta" and isinstance(block, dict):
        block["signature"] += delta.signature
