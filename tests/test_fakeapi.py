"""The fake Anthropic API (tests/fakeapi.py) driven by the REAL anthropic SDK."""

from __future__ import annotations

import threading
import time

import anthropic
import httpx2
import pytest

from fakeapi import (  # tests/ is on sys.path (conftest.py)
    Drop,
    FakeAnthropicServer,
    Hang,
    Reply,
    Status,
    StreamError,
    Text,
    ToolUse,
    Usage,
)

SECRET = "sk-test-SECRET"
MODEL = "claude-test-model"
MESSAGES = [{"role": "user", "content": "Who is booked on the 7am spin class?"}]
TOOLS = [
    {
        "name": "lookup_member",
        "description": "Look a gym member up by id.",
        "input_schema": {
            "type": "object",
            "properties": {"member_id": {"type": "integer"}},
            "required": ["member_id"],
        },
    }
]


def _fake_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fakeapi")]


@pytest.fixture
def server():
    with FakeAnthropicServer() as srv:
        yield srv
    assert srv.errors == []
    assert _fake_threads() == []  # close() stopped the serve thread and every handler thread


def _client(srv: FakeAnthropicServer, **kw) -> anthropic.AsyncAnthropic:
    kw.setdefault("max_retries", 0)
    return anthropic.AsyncAnthropic(api_key=SECRET, base_url=srv.base_url, **kw)


def _stream(client: anthropic.AsyncAnthropic):
    return client.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES, tools=TOOLS)


# --------------------------------------------------------------------- happy path


@pytest.mark.asyncio
async def test_stream_text_and_tool_use_with_real_sdk(server):
    server.script(
        [
            Reply(
                [
                    Text("Three members are booked.", chunks=3),
                    ToolUse("lookup_member", {"member_id": 42}, id="toolu_01", chunks=4),
                ],
                usage=Usage(input_tokens=120, output_tokens=33, cache_creation_input_tokens=7, cache_read_input_tokens=80),
            )
        ]
    )
    async with _client(server) as client:
        async with _stream(client) as s:
            event_types = [event.type async for event in s]
            final = await s.get_final_message()

    assert event_types[0] == "message_start"
    assert event_types[-1] == "message_stop"
    raw_deltas = [t for t in event_types if t == "content_block_delta"]
    assert len(raw_deltas) == 3 + 4
    assert final.stop_reason == "tool_use"
    assert final.model == "claude-test"
    text, tool = final.content
    assert text.type == "text" and text.text == "Three members are booked."
    assert tool.type == "tool_use"
    assert (tool.id, tool.name, tool.input) == ("toolu_01", "lookup_member", {"member_id": 42})
    assert final.usage.input_tokens == 120
    assert final.usage.output_tokens == 33
    assert final.usage.cache_creation_input_tokens == 7
    assert final.usage.cache_read_input_tokens == 80

    (req,) = server.requests
    assert (req.method, req.path) == ("POST", "/v1/messages")
    assert req.stream is True
    assert req.json["model"] == MODEL
    assert req.json["messages"] == MESSAGES
    assert req.json["tools"][0]["name"] == "lookup_member"
    # anthropic 2.14 sends the API key as `authorization: Bearer <key>` (no x-api-key).
    assert req.headers.get("authorization") == f"Bearer {SECRET}" or req.headers.get("x-api-key") == SECRET
    assert req.headers["content-type"].startswith("application/json")
    assert server.requests_json() == [req.json]
    # The key is only in the auth header, which text_of_all_requests() leaves out.
    text_blob = server.text_of_all_requests()
    assert SECRET not in text_blob
    assert "anthropic-version" in text_blob and "spin class" in text_blob


@pytest.mark.asyncio
async def test_default_stop_reason_and_text_stream(server):
    server.script([Reply([Text("hello gym", chunks=4)])])
    async with _client(server) as client:
        async with _stream(client) as s:
            pieces = [piece async for piece in s.text_stream]
            final = await s.get_final_message()
    assert pieces == ["hel", "lo", " g", "ym"]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3  # measured: 9 bytes of text / 4, rounded up


@pytest.mark.asyncio
async def test_non_streaming_request_gets_plain_json_message(server):
    server.script([Reply([Text("plain"), ToolUse("lookup_member", {"member_id": 1})], stop_reason="max_tokens")])
    async with _client(server) as client:
        message = await client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, tools=TOOLS)
    assert message.stop_reason == "max_tokens"
    assert message.content[0].text == "plain"
    assert message.content[1].input == {"member_id": 1}
    assert message.content[1].id.startswith("toolu_")
    assert message.usage.input_tokens == server.requests[0].cache_usage.input_tokens > 10  # measured (tools + message)
    assert message.usage.cache_read_input_tokens == 0  # no breakpoint, nothing cached
    assert server.requests[0].stream is False


@pytest.mark.asyncio
async def test_keep_alive_connection_is_reused(server):
    server.script([Reply([Text("one")]), Reply([Text("two")]), Reply([Text("three")])])
    async with _client(server) as client:
        for expected in ("one", "two"):
            async with _stream(client) as s:
                assert await s.get_final_text() == expected
        message = await client.messages.create(model=MODEL, max_tokens=8, messages=MESSAGES)
        assert message.content[0].text == "three"
    assert len(server.requests) == 3
    # chunked SSE + Content-Length JSON keep the pooled connection usable
    assert server.connection_count == 1


@pytest.mark.asyncio
async def test_malformed_tool_json_surfaces_from_the_sdk(server):
    server.script([Reply([ToolUse("lookup_member", raw_json='{"member_id": nope}', chunks=2)])])
    async with _client(server) as client:
        with pytest.raises(ValueError, match="Unable to parse tool parameter JSON"):
            async with _stream(client) as s:
                await s.get_final_message()


@pytest.mark.asyncio
async def test_truncated_tool_json_is_parsed_partially(server):
    server.script([Reply([ToolUse("lookup_member", raw_json='{"member_id": 4')])])
    async with _client(server) as client:
        async with _stream(client) as s:
            final = await s.get_final_message()
    assert final.content[0].input == {"member_id": 4}


# ------------------------------------------------------------------- HTTP errors


@pytest.mark.asyncio
async def test_429_is_rate_limit_error_with_retry_after(server):
    server.script([Status(429, {"retry-after": "3"})])
    async with _client(server) as client:
        with pytest.raises(anthropic.RateLimitError) as info:
            async with _stream(client) as s:
                await s.get_final_message()
    err = info.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "3"
    assert err.type == "rate_limit_error"
    assert err.body["error"]["type"] == "rate_limit_error"
    assert err.request_id and err.request_id.startswith("req_fake_")


@pytest.mark.asyncio
async def test_529_is_overloaded_error(server):
    server.script([Status(529, {"retry-after-ms": "1500"}, message="busy")])
    async with _client(server) as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            async with _stream(client) as s:
                await s.get_final_message()
    err = info.value
    assert isinstance(err, anthropic.OverloadedError)
    assert err.status_code == 529
    assert err.type == "overloaded_error"
    assert err.api_message == "busy"
    assert err.response.headers["retry-after-ms"] == "1500"


@pytest.mark.asyncio
async def test_custom_error_body_is_sent_verbatim(server):
    server.script([Status(400, body={"type": "error", "error": {"type": "invalid_request_error", "message": "bad tools"}})])
    async with _client(server) as client:
        with pytest.raises(anthropic.BadRequestError) as info:
            await client.messages.create(model=MODEL, max_tokens=8, messages=MESSAGES)
    assert info.value.api_message == "bad tools"


@pytest.mark.asyncio
async def test_sdk_retry_consumes_next_step(server):
    server.script([Status(529, {"retry-after-ms": "10"}), Reply([Text("after retry")])])
    async with _client(server, max_retries=1) as client:
        async with _stream(client) as s:
            assert await s.get_final_text() == "after retry"
    first, second = server.requests
    assert first.headers["x-stainless-retry-count"] == "0"
    assert second.headers["x-stainless-retry-count"] == "1"
    assert server.pending_steps == []


@pytest.mark.asyncio
async def test_script_exhausted_answers_500_loudly_and_is_not_retried(server):
    server.script([Reply([Text("only one")])])
    async with _client(server, max_retries=3) as client:
        async with _stream(client) as s:
            await s.get_final_message()
        with pytest.raises(anthropic.InternalServerError) as info:
            async with _stream(client) as s:
                await s.get_final_message()
    assert info.value.status_code == 500
    assert "fake API script exhausted" in str(info.value)
    # recorded, and `x-should-retry: false` stopped the SDK from retrying
    assert len(server.requests) == 2
    assert server.requests[1].step is None


@pytest.mark.asyncio
async def test_unknown_path_is_404_and_consumes_no_step(server):
    server.script([Reply([Text("kept")])])
    async with _client(server) as client:
        with pytest.raises(anthropic.NotFoundError):
            await client.models.list()
        async with _stream(client) as s:
            assert await s.get_final_text() == "kept"
    assert [r.path.split("?")[0] for r in server.requests] == ["/v1/models", "/v1/messages"]


# --------------------------------------------------------------- broken streams


@pytest.mark.asyncio
async def test_drop_mid_stream_raises_raw_httpx2_protocol_error(server):
    # What the SDK actually does: the chunked body ends without its terminating
    # chunk, and httpx2 raises RemoteProtocolError("peer closed connection without
    # sending complete message body (incomplete chunked read)") out of the event
    # iteration. The SDK does NOT wrap it in anthropic.APIConnectionError (the
    # response was already handed over), so callers must catch httpx2.TransportError
    # too. Events already received (message_start ...) were yielded first.
    server.script([Drop(after_events=3, reply=Reply([Text("hello world", chunks=3)]))])
    seen: list[str] = []
    async with _client(server) as client:
        with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
            async with _stream(client) as s:
                async for event in s:
                    seen.append(event.type)
    assert seen[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert "message_stop" not in seen
    assert not isinstance(httpx2.RemoteProtocolError("x"), anthropic.APIConnectionError)


@pytest.mark.asyncio
async def test_drop_with_clean_eof_yields_message_without_stop_reason(server):
    # What the SDK actually does: a Content-Length-less `Connection: close` body
    # that just ends looks like a normal end of stream; no error is raised and
    # get_final_message() returns the partial snapshot with stop_reason None and
    # output_tokens 0 (message_delta never arrived).
    server.script([Drop(after_events=3, reply=Reply([Text("hello world", chunks=3)]), clean_eof=True)])
    async with _client(server) as client:
        async with _stream(client) as s:
            final = await s.get_final_message()
    assert final.stop_reason is None
    assert final.content[0].text == "hell"
    assert final.usage.output_tokens <= 1  # message_start's count (the API sends 1 there)


@pytest.mark.asyncio
async def test_stream_error_event_raises_api_status_error(server):
    # What the SDK actually does: `event: error` raises the base
    # anthropic.APIStatusError (not OverloadedError) whose status_code is the
    # HTTP status of the stream, 200; the error type is in .type / .body.
    server.script([StreamError(after_events=2, reply=Reply([Text("partial", chunks=2)]), message="Overloaded now")])
    seen: list[str] = []
    async with _client(server) as client:
        with pytest.raises(anthropic.APIStatusError) as info:
            async with _stream(client) as s:
                async for event in s:
                    seen.append(event.type)
    err = info.value
    assert type(err) is anthropic.APIStatusError
    assert err.status_code == 200
    assert err.type == "overloaded_error"
    assert err.api_message == "Overloaded now"
    assert seen == ["message_start", "content_block_start"]


@pytest.mark.asyncio
async def test_hang_triggers_sdk_timeout_and_close_interrupts_it():
    srv = FakeAnthropicServer([Hang(30)]).start()
    try:
        async with _client(srv, timeout=0.2) as client:
            started = time.monotonic()
            with pytest.raises(anthropic.APITimeoutError):
                async with _stream(client) as s:
                    await s.get_final_message()
            assert time.monotonic() - started < 1.0
    finally:
        started = time.monotonic()
        srv.close()
        assert time.monotonic() - started < 1.0  # the 30 s hang was interrupted
    assert len(srv.requests) == 1
    assert srv.errors == []


@pytest.mark.asyncio
async def test_hang_then_answers(server):
    server.script([Hang(0.05, then=Reply([Text("late")]))])
    async with _client(server) as client:
        async with _stream(client) as s:
            assert await s.get_final_text() == "late"


# ------------------------------------------------------------- sync & lifecycle


def test_sync_client_and_no_leaked_threads():
    before = _fake_threads()
    with FakeAnthropicServer() as srv:
        srv.script([Reply([Text("sync ok")]), Reply([Text("again")])])
        with anthropic.Anthropic(api_key=SECRET, base_url=srv.base_url, max_retries=0) as client:
            with client.messages.stream(model=MODEL, max_tokens=8, messages=MESSAGES) as s:
                assert s.get_final_text() == "sync ok"
            # leave a pooled keep-alive connection open on purpose: close() must still return
            with client.messages.stream(model=MODEL, max_tokens=8, messages=MESSAGES) as s:
                assert s.get_final_text() == "again"
            assert len(_fake_threads()) > len(before)
            started = time.monotonic()
            srv.close()
            assert time.monotonic() - started < 1.0
    assert _fake_threads() == before
    assert srv.errors == []


def test_base_url_and_restart_rules():
    srv = FakeAnthropicServer()
    with pytest.raises(RuntimeError):
        srv.base_url
    srv.start()
    try:
        assert srv.base_url.startswith("http://127.0.0.1:")
        assert int(srv.base_url.rsplit(":", 1)[1]) > 0
        srv.script([Reply([Text("a")])])
        srv.script([Reply([Text("b")])])
        assert len(srv.pending_steps) == 2
        srv.script([Status(500)], replace=True)
        assert [type(step).__name__ for step in srv.pending_steps] == ["Status"]
        with pytest.raises(TypeError):
            srv.script([{"not": "a step"}])
        with pytest.raises(TypeError):
            srv.script([Reply(["bare string block"])])
    finally:
        srv.close()
        srv.close()  # idempotent


@pytest.mark.asyncio
async def test_concurrent_requests_each_take_one_step(server):
    import asyncio

    server.script([Reply([Text(f"answer {i}", chunks=2)]) for i in range(5)])
    async with _client(server) as client:

        async def one() -> str:
            async with _stream(client) as s:
                return await s.get_final_text()

        texts = await asyncio.gather(*(one() for _ in range(5)))
    assert sorted(texts) == [f"answer {i}" for i in range(5)]
    assert len(server.requests) == 5 and server.pending_steps == []
