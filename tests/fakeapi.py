"""A fake Anthropic Messages API server for the test-suite.

The real ``anthropic`` SDK is pointed at this server over 127.0.0.1: we never
mock the SDK, we fake its network peer.  Stdlib only.

Usage::

    with FakeAnthropicServer() as server:
        server.script([Reply([Text("Hello", chunks=2), ToolUse("lookup", {"id": 7})])])
        client = anthropic.AsyncAnthropic(api_key="sk-test", base_url=server.base_url, max_retries=0)
        ...
        assert server.requests_json()[0]["model"] == "claude-x"

Every ``POST /v1/messages`` consumes the next step of the script:

* ``Reply``       -- a successful answer: real SSE when the request has
                     ``"stream": true``, otherwise a plain JSON Message.
* ``Status``      -- an HTTP error with an Anthropic-shaped error body.
* ``Drop``        -- a streamed reply cut off after N SSE events.
* ``StreamError`` -- a streamed reply with an ``event: error`` after N events.
* ``Hang``        -- sleep (interruptibly) before answering.

Content blocks: ``Text``, ``ToolUse``, ``Thinking`` (streamed as thinking_delta
events then one signature_delta, as in the documented extended-thinking
stream) and ``RedactedThinking``.

Usage follows the API: a ``Reply`` without ``usage`` gets the usage the fake
measures from the request, with the documented prompt-caching rules applied
(tests/fakerules.py: exact prefixes, at most 4 breakpoints, 20-block lookback,
per-model minimum lengths, 5-minute and 1-hour lifetimes on ``server.clock``).
``usage=NO_USAGE`` sends none at all (the documented thinking stream), and a
``Usage`` with fields set to None leaves those fields out.

Requests the real API refuses (more than 4 cache breakpoints, thinking
parameters a model does not take, thinking blocks dropped or altered before a
tool result) are answered 400 invalid_request_error and consume no step.

When the script is exhausted the server answers 500 "fake API script exhausted"
(with ``x-should-retry: false`` so the SDK does not retry) so tests fail loudly.
Any other path/method answers 404 and consumes no step.  Every request,
including those, is recorded in ``server.requests``.

Framing: non-streamed answers always carry Content-Length (keep-alive safe);
SSE answers use ``Transfer-Encoding: chunked`` and end with the terminating
chunk, so the SDK's pooled connection stays reusable.  ``Drop`` closes the
connection without the terminating chunk (the client sees an incomplete body),
or, with ``clean_eof=True``, sends a Content-Length-less ``Connection: close``
body and closes it (the client sees a normal end of body, just without
``message_stop``).
"""

from __future__ import annotations

import hashlib
import http.server
import itertools
import json
import socket
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Iterator, Union
from urllib.parse import urlsplit

from fakerules import PromptCache, RequestRejected, check_thinking, count_tokens

__all__ = [
    "Drop",
    "FakeAnthropicServer",
    "Hang",
    "NO_USAGE",
    "RedactedThinking",
    "RecordedRequest",
    "Reply",
    "Status",
    "Step",
    "StreamError",
    "Text",
    "Thinking",
    "ToolUse",
    "Usage",
    "error_type_for_status",
]

MESSAGES_PATH = "/v1/messages"
EXHAUSTED_MESSAGE = "fake API script exhausted"


# --------------------------------------------------------------------------- steps


@dataclass
class Usage:
    """Reported usage; a field set to None is left out of the stream."""

    input_tokens: int | None
    output_tokens: int | None
    cache_creation_input_tokens: int | None = 0
    cache_read_input_tokens: int | None = 0


NO_USAGE = "no usage"
"""``Reply(usage=NO_USAGE)``: no ``usage`` in ``message_start`` nor ``message_delta`` (the documented thinking stream)."""


@dataclass
class Thinking:
    """A thinking block: ``chunks`` thinking_delta events, then one signature_delta."""

    thinking: str
    signature: str = ""
    chunks: int = 1


@dataclass
class RedactedThinking:
    """A redacted_thinking block: its encrypted ``data`` arrives whole in content_block_start."""

    data: str


@dataclass
class Text:
    """A text content block, streamed as ``chunks`` text_delta events."""

    text: str
    chunks: int = 1


@dataclass
class ToolUse:
    """A tool_use content block, streamed as input_json_delta events.

    ``raw_json`` (if given) is sent verbatim instead of ``json.dumps(input)``,
    so a test can send malformed or truncated JSON.  ``chunks`` splits the JSON
    text into that many input_json_delta events.  ``id`` defaults to a
    generated ``toolu_fake_...`` id.
    """

    name: str
    input: dict | None = None
    raw_json: str | None = None
    id: str | None = None
    chunks: int = 1


Block = Union[Text, ToolUse, Thinking, RedactedThinking]


@dataclass
class Reply:
    """A successful assistant message.

    ``stop_reason`` defaults to "tool_use" if any block is a ToolUse, else
    "end_turn".  ``usage`` defaults to ``Usage(input_tokens=10, output_tokens=5)``.
    ``headers`` are extra response headers.
    """

    kind: ClassVar[str] = "reply"

    blocks: list = field(default_factory=list)
    stop_reason: str | None = None
    usage: Usage | None = None
    model: str = "claude-test"
    headers: dict = field(default_factory=dict)


@dataclass
class Status:
    """An HTTP error answer.

    ``body`` (if given) is sent as-is as JSON; otherwise an Anthropic-shaped
    ``{"type": "error", "error": {"type": ..., "message": ...}}`` body is built,
    the error type picked from ``code`` (see ``error_type_for_status``) and the
    message from ``message`` (or a default).  ``headers`` are sent verbatim,
    e.g. ``{"retry-after": "3"}`` or ``{"retry-after-ms": "1500"}``.
    ``html`` sends that text as a ``text/html`` body instead (a proxy's error page).
    """

    kind: ClassVar[str] = "status"

    code: int
    headers: dict = field(default_factory=dict)
    body: dict | None = None
    message: str | None = None
    html: str | None = None


@dataclass
class Drop:
    """Stream ``reply`` but cut the connection after ``after_events`` SSE events.

    By default the body is chunked and the connection is closed without the
    terminating chunk (an incomplete body for the client).  With
    ``clean_eof=True`` the body is delimited by connection close instead, so
    the client sees an ordinary end of stream that merely lacks the remaining
    events (no message_delta / message_stop).
    """

    kind: ClassVar[str] = "drop"

    after_events: int
    reply: Reply = field(default_factory=lambda: Reply([Text("partial answer that never ends", chunks=3)]))
    clean_eof: bool = False


@dataclass
class StreamError:
    """Stream ``after_events`` events of ``reply``, then an ``event: error`` SSE event."""

    kind: ClassVar[str] = "stream_error"

    after_events: int
    reply: Reply = field(default_factory=lambda: Reply([Text("partial answer", chunks=2)]))
    error_type: str = "overloaded_error"
    message: str | None = None


@dataclass
class Hang:
    """Sleep ``seconds`` before answering (interrupted at once by ``close()``).

    Afterwards the server answers ``then`` if given; otherwise it closes the
    connection without any response (the client normally timed out already).
    """

    kind: ClassVar[str] = "hang"

    seconds: float
    then: Any = None  # Step | None


Step = Union[Reply, Status, Drop, StreamError, Hang]


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_DEFAULT_MESSAGES = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Billing problem",
    "permission_error": "Permission denied",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes",
    "rate_limit_error": "Rate limited",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}


def error_type_for_status(code: int) -> str:
    """The Anthropic ``error.type`` the real API uses for an HTTP status."""
    if code in _ERROR_TYPES:
        return _ERROR_TYPES[code]
    return "api_error" if code >= 500 else "invalid_request_error"


def _error_body(error_type: str, message: str | None = None) -> dict:
    return {
        "type": "error",
        "error": {"type": error_type, "message": message or _DEFAULT_MESSAGES.get(error_type, error_type)},
    }


_STEP_KINDS = {"reply", "status", "drop", "stream_error", "hang"}


def _check_step(step: Any) -> None:
    """Reject a bad script entry where the test writes it, not mid-request."""
    if getattr(step, "kind", None) not in _STEP_KINDS:
        raise TypeError(f"fakeapi: not a script step: {step!r}")
    reply = step if step.kind == "reply" else getattr(step, "reply", None)
    if reply is not None:
        for block in reply.blocks:
            if type(block).__name__ not in ("Text", "ToolUse", "Thinking", "RedactedThinking"):
                raise TypeError(f"fakeapi: unknown content block {block!r}")
    if step.kind == "hang" and step.then is not None:
        _check_step(step.then)


# ------------------------------------------------------------------------- records


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict  # lower-case names -> values
    json: Any  # parsed JSON body, or None if the body was empty / not JSON
    body: bytes
    step: Any = None  # the step that answered it; None for 404s, refused requests and "script exhausted"
    cache_usage: Any = None  # what the prompt cache measured for this request (fakerules.CacheUsage)

    @property
    def stream(self) -> bool:
        return isinstance(self.json, dict) and self.json.get("stream") is True


# ------------------------------------------------------------------ event building


def _split(text: str, n: int) -> list[str]:
    """Split ``text`` into at most ``n`` non-empty, roughly equal pieces."""
    if not text:
        return []
    n = max(1, min(n, len(text)))
    size, extra = divmod(len(text), n)
    pieces, pos = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        pieces.append(text[pos : pos + step])
        pos += step
    return pieces


def _stop_reason(reply: Reply) -> str:
    if reply.stop_reason is not None:
        return reply.stop_reason
    return "tool_use" if any(type(b).__name__ == "ToolUse" for b in reply.blocks) else "end_turn"


def _output_tokens(reply: Reply) -> int:
    parts = []
    for block in reply.blocks:
        kind = type(block).__name__
        if kind == "Text":
            parts.append(block.text)
        elif kind == "Thinking":
            parts.append(block.thinking)
        elif kind == "RedactedThinking":
            parts.append(block.data)
        else:
            parts.append(block.name + _tool_json(block))
    return count_tokens("".join(parts))


def _usage_fields(usage: Usage, *, output: bool) -> dict:
    fields = {"input_tokens": usage.input_tokens, "cache_creation_input_tokens": usage.cache_creation_input_tokens,
              "cache_read_input_tokens": usage.cache_read_input_tokens}
    if output:
        fields["output_tokens"] = usage.output_tokens
    return {k: v for k, v in fields.items() if v is not None}


def _tool_json(block: ToolUse) -> str:
    if block.raw_json is not None:
        return block.raw_json
    return json.dumps(block.input or {}, separators=(",", ":"))


# --------------------------------------------------------------------------- server


class _HTTPServer(http.server.ThreadingHTTPServer):
    # Handler threads are daemons (a forgotten close() never blocks interpreter
    # exit), so socketserver would not join them: we track and join them ourselves.
    daemon_threads = True
    block_on_close = False
    fake: "FakeAnthropicServer"

    def process_request(self, request, client_address):  # runs in the serve thread
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"fakeapi-conn-{client_address[1]}",
            daemon=True,
        )
        self.fake._track(request, thread)
        thread.start()

    def shutdown_request(self, request):
        self.fake._untrack(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # client went away, socket shut down by close(), ...
            return
        self.fake._record_error(exc)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeAnthropic/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive safety net; close() shuts sockets down anyway

    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence
        pass

    # Every method is funnelled through one place so it gets recorded.
    def do_POST(self) -> None:
        self._dispatch()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

    # ---------------------------------------------------------------- plumbing

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers, up to the blank line
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(65537)  # CRLF after the chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, code: int, payload: Any, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", self._request_id)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def _send_text(self, code: int, text: str, content_type: str, headers: dict | None = None) -> None:
        data = text.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _start_sse(self, headers: dict | None, chunked: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("request-id", self._request_id)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.flush()

    def _write_event(self, event: dict | tuple, chunked: bool) -> None:
        if isinstance(event, tuple):
            name, data = event
        else:
            name, data = event["type"], event
        raw = f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode("utf-8")
        if chunked:
            raw = b"%x\r\n%s\r\n" % (len(raw), raw)
        self.wfile.write(raw)
        self.wfile.flush()

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        """Close the connection now (FIN after everything already written)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ---------------------------------------------------------------- dispatch

    def _dispatch(self) -> None:
        fake = self.server.fake
        body = self._read_body()
        try:
            parsed = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            parsed = None
        record = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            json=parsed,
            body=body,
        )
        self._request_id = fake._next_request_id()

        if self.command != "POST" or urlsplit(self.path).path.rstrip("/") != MESSAGES_PATH:
            fake._record(record)
            self._send_json(
                404,
                _error_body("not_found_error", f"fake API only serves POST {MESSAGES_PATH}, got {self.command} {self.path}"),
                {"x-should-retry": "false"},
            )
            return

        try:
            fake._validate(record)
        except RequestRejected as exc:
            fake._record(record)
            self._send_json(400, _error_body("invalid_request_error", str(exc)), {"x-should-retry": "false"})
            return
        step = fake._take_step(record)  # records the request too
        if step is None:
            n = fake._request_count()
            self._send_json(
                500,
                _error_body("api_error", f"{EXHAUSTED_MESSAGE}: no step left for request #{n} {self.command} {self.path}"),
                {"x-should-retry": "false"},
            )
            return
        self._answer(step, stream=record.stream, request=record)

    def _answer(self, step: Any, stream: bool, request: RecordedRequest | None = None) -> None:
        fake = self.server.fake
        kind = getattr(step, "kind", None)
        if kind == "hang":
            if fake._closing.wait(step.seconds) or step.then is None:
                self._abort()
                return
            self._answer(step.then, stream, request)
        elif kind == "status" and step.html is not None:
            self._send_text(step.code, step.html, "text/html; charset=utf-8", step.headers)
        elif kind == "status":
            payload = step.body if step.body is not None else _error_body(error_type_for_status(step.code), step.message)
            self._send_json(step.code, payload, step.headers)
        elif kind == "reply":
            usage = fake._usage_for(step, request)
            if stream:
                self._start_sse(step.headers, chunked=True)
                for event in fake._events(step, usage):
                    self._write_event(event, chunked=True)
                self._end_chunked()
            else:
                self._send_json(200, fake._message(step, usage=usage), step.headers)
        elif kind == "drop":
            chunked = not step.clean_eof
            self._start_sse(step.reply.headers, chunked=chunked)
            for event in itertools.islice(fake._events(step.reply, fake._usage_for(step.reply, request)),
                                          step.after_events):
                self._write_event(event, chunked=chunked)
            self._abort()
        elif kind == "stream_error":
            self._start_sse(step.reply.headers, chunked=True)
            for event in itertools.islice(fake._events(step.reply, fake._usage_for(step.reply, request)),
                                          step.after_events):
                self._write_event(event, chunked=True)
            self._write_event(("error", _error_body(step.error_type, step.message)), chunked=True)
            self._end_chunked()
        else:
            raise TypeError(f"fakeapi: unknown script step {step!r}")


class FakeAnthropicServer:
    """A scripted fake of the Anthropic Messages API on 127.0.0.1 (ephemeral port).

    Usable as a context manager or via ``start()`` / ``close()``.  Thread-safe;
    works the same from sync and async tests (it runs in its own threads).
    """

    def __init__(self, steps: Iterable[Any] | None = None, host: str = "127.0.0.1", clock: Any = None) -> None:
        self._host = host
        self.cache = PromptCache(clock) if clock is not None else PromptCache()
        """The key's prompt cache; ``clock`` (seconds, monotonic) decides when entries expire."""
        self._signatures: dict[str, str] = {}
        self._thought_tool_ids: set[str] = set()
        self._lock = threading.Lock()
        self._steps: deque = deque()
        self._requests: list[RecordedRequest] = []
        self._errors: list[BaseException] = []
        self._conns: set = set()
        self._accepted = 0
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        if steps is not None:
            self.script(steps)

    # -------------------------------------------------------------- lifecycle

    def start(self) -> "FakeAnthropicServer":
        if self._httpd is not None:
            return self
        self._closing.clear()
        httpd = _HTTPServer((self._host, 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fakeapi-serve", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._closing.set()  # wakes Hang steps
        httpd.shutdown()  # stop accepting; returns once serve_forever has exited
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # wake handlers idling on keep-alive connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=5)
        leaked = [t.name for t in threads if t.is_alive()]
        if leaked:
            raise RuntimeError(f"fakeapi: handler threads did not stop: {leaked}")

    def __enter__(self) -> "FakeAnthropicServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeAnthropicServer is not running; call start() first")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # ---------------------------------------------------------------- scripting

    def script(self, steps: Iterable[Any], *, replace: bool = False) -> "FakeAnthropicServer":
        """Append ``steps`` to the script (or replace what is left of it)."""
        steps = list(steps)
        for step in steps:
            _check_step(step)
        with self._lock:
            if replace:
                self._steps.clear()
            self._steps.extend(steps)
        return self

    @property
    def pending_steps(self) -> list:
        """The steps not consumed yet."""
        with self._lock:
            return list(self._steps)

    # ---------------------------------------------------------------- inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions raised inside the fake itself (should stay empty)."""
        with self._lock:
            return list(self._errors)

    @property
    def connection_count(self) -> int:
        """How many TCP connections were accepted (keep-alive reuse keeps this low)."""
        with self._lock:
            return self._accepted

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def requests_json(self) -> list:
        """The parsed JSON bodies of all requests (None where not JSON)."""
        return [r.json for r in self.requests]

    def text_of_all_requests(self) -> str:
        """Paths, header lines and raw bodies of all requests, as one string.

        The ``x-api-key`` and ``authorization`` headers are left out, so a test
        can assert a secret appears nowhere except where it belongs.
        """
        parts: list[str] = []
        for r in self.requests:
            parts.append(f"{r.method} {r.path}")
            for name, value in r.headers.items():
                if name not in ("x-api-key", "authorization"):
                    parts.append(f"{name}: {value}")
            parts.append(r.body.decode("utf-8", errors="replace"))
        return "\n".join(parts)

    # ---------------------------------------------------------- handler support

    def _track(self, conn: socket.socket, thread: threading.Thread) -> None:
        with self._lock:
            self._conns.add(conn)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            self._accepted += 1

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(record)

    def _record_error(self, exc: BaseException | None) -> None:
        if exc is not None:
            with self._lock:
                self._errors.append(exc)

    def _request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    def _take_step(self, record: RecordedRequest) -> Any:
        with self._lock:
            step = self._steps.popleft() if self._steps else None
            record.step = step
            self._requests.append(record)
            return step

    def _next_request_id(self) -> str:
        with self._lock:
            return f"req_fake_{next(self._ids):06d}"

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}_fake_{next(self._ids):06d}"

    def _validate(self, record: RecordedRequest) -> None:
        """Refuse what the real API refuses (RequestRejected -> 400) before any step is used."""
        body = record.json
        if not isinstance(body, dict):
            return
        with self._lock:
            signatures, thought = dict(self._signatures), set(self._thought_tool_ids)
        check_thinking(body, record.headers, signatures, thought)
        record.cache_usage = self.cache.apply(body) if body.get("messages") else None

    def _usage_for(self, reply: Reply, request: RecordedRequest | None) -> Usage | None:
        """The usage to report: the scripted one, none (NO_USAGE), or what the fake measured."""
        if reply.usage == NO_USAGE:
            return None
        if reply.usage is not None:
            return reply.usage
        measured = getattr(request, "cache_usage", None)
        if measured is None:
            return Usage(input_tokens=10, output_tokens=_output_tokens(reply))
        usage = Usage(measured.input_tokens, _output_tokens(reply), measured.cache_creation_input_tokens,
                      measured.cache_read_input_tokens)
        usage.split = (measured.ephemeral_5m_input_tokens, measured.ephemeral_1h_input_tokens)
        return usage

    def _remember(self, reply: Reply, blocks: list[dict]) -> None:
        """Signatures issued, and the tool calls of answers that came with thinking (checked on the way back)."""
        with self._lock:
            thought = False
            for block in blocks:
                if block["type"] == "thinking":
                    self._signatures[block["signature"]] = block["thinking"]
                    thought = True
                elif block["type"] == "redacted_thinking":
                    self._signatures[block["data"]] = ""
                    thought = True
            if thought:
                self._thought_tool_ids.update(b["id"] for b in blocks if b["type"] == "tool_use")

    def _content(self, reply: Reply) -> list[dict]:
        content: list[dict] = []
        for block in reply.blocks:
            kind = type(block).__name__
            if kind == "Text":
                content.append({"type": "text", "text": block.text})
            elif kind == "Thinking":
                signature = block.signature or "sig_" + hashlib.sha256(block.thinking.encode()).hexdigest()[:48]
                content.append({"type": "thinking", "thinking": block.thinking, "signature": signature})
            elif kind == "RedactedThinking":
                content.append({"type": "redacted_thinking", "data": block.data})
            elif kind == "ToolUse":
                if block.raw_json is not None:
                    try:
                        tool_input = json.loads(block.raw_json)
                    except ValueError:
                        tool_input = block.raw_json  # malformed on purpose: passed through as a string
                else:
                    tool_input = block.input or {}
                content.append({"type": "tool_use", "id": block.id or self._new_id("toolu"), "name": block.name,
                                "input": tool_input})
            else:
                raise TypeError(f"fakeapi: unknown content block {block!r}")
        self._remember(reply, content)
        return content

    @staticmethod
    def _usage_object(usage: Usage | None, *, streaming_start: bool) -> dict | None:
        if usage is None:
            return None
        fields = _usage_fields(usage, output=True)
        if streaming_start and "output_tokens" in fields:
            fields["output_tokens"] = min(1, fields["output_tokens"] or 0)
        split = getattr(usage, "split", None)
        if split is not None:
            fields["cache_creation"] = {"ephemeral_5m_input_tokens": split[0], "ephemeral_1h_input_tokens": split[1]}
        return fields

    def _message(self, reply: Reply, *, usage: Usage | None = None, streaming_start: bool = False,
                 content: list[dict] | None = None) -> dict:
        message = {
            "id": self._new_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": [] if streaming_start else (content if content is not None else self._content(reply)),
            "stop_reason": None if streaming_start else _stop_reason(reply),
            "stop_sequence": None,
        }
        usage_object = self._usage_object(usage, streaming_start=streaming_start)
        if usage_object is not None:
            message["usage"] = usage_object
        return message

    def _events(self, reply: Reply, usage: Usage | None = None) -> Iterator[dict]:
        """The SSE event payloads for ``reply``, in order (each has a ``type``), as the API streams them."""
        yield {"type": "message_start", "message": self._message(reply, usage=usage, streaming_start=True)}
        for index, block in enumerate(self._content(reply)):
            kind = block["type"]
            if kind == "text":
                yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
                for piece in _split(block["text"], reply.blocks[index].chunks):
                    yield {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}
            elif kind == "thinking":
                yield {"type": "content_block_start", "index": index,
                       "content_block": {"type": "thinking", "thinking": ""}}
                for piece in _split(block["thinking"], reply.blocks[index].chunks):
                    yield {"type": "content_block_delta", "index": index,
                           "delta": {"type": "thinking_delta", "thinking": piece}}
                yield {"type": "content_block_delta", "index": index,
                       "delta": {"type": "signature_delta", "signature": block["signature"]}}
            elif kind == "redacted_thinking":
                yield {"type": "content_block_start", "index": index, "content_block": dict(block)}
            else:
                yield {"type": "content_block_start", "index": index,
                       "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}
                for piece in _split(_tool_json(reply.blocks[index]), reply.blocks[index].chunks):
                    yield {"type": "content_block_delta", "index": index,
                           "delta": {"type": "input_json_delta", "partial_json": piece}}
            yield {"type": "content_block_stop", "index": index}
        delta: dict = {"type": "message_delta", "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None}}
        if usage is not None:
            delta["usage"] = {k: v for k, v in {"output_tokens": usage.output_tokens}.items() if v is not None}
        yield delta
        yield {"type": "message_stop"}
