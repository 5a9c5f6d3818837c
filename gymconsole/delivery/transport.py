"""What every adapter shares: secrets from the environment, one-line errors, JSON over HTTP.

Secrets (SMTP password, gateway and controller tokens, the Slack webhook URL)
are read from the environment at the moment they are needed and are never put
into an error message, a log line or the database: errors name the peer by its
role ("the SMS gateway"), never by URL.  HTTP goes through ``urllib`` in a
worker thread with a total deadline (connect and the whole answer within the
timeout, however slowly the peer drips it); redirects are refused so a token is never
forwarded to another host.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import socket
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from gymconsole.present.sanitize import visible

MAX_ERROR_TEXT = 160


class DeliveryError(Exception):
    """A send that did not happen, phrased as one line; ``retryable`` says whether trying later may help."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def secret(variable: str) -> str | None:
    """The value of a secret's environment variable (``.env`` is loaded by the CLI), or None when unset/empty."""
    value = os.environ.get(variable, "").strip() if variable else ""
    return value or None


def stable_key(text: str) -> str:
    """A short, stable, opaque digest of an outbox effect key (Message-ID and Idempotency-Key)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def scrub(text: str, *secrets: str | None) -> str:
    """One line, at most :data:`MAX_ERROR_TEXT` characters, with any secret replaced by ``***``."""
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    line = " ".join(visible(text).split())
    return line if len(line) <= MAX_ERROR_TEXT else line[: MAX_ERROR_TEXT - 1] + "…"


@dataclass(frozen=True)
class HttpReply:
    """A 2xx answer: its status and parsed JSON body (None when the body is empty or not JSON)."""

    status: int
    body: Any


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


class _Deadline:
    """A total deadline for one request: when it passes, the connection's socket is shut down, which ends a
    blocked connect or read at once.  ``urllib``'s ``timeout`` alone bounds each socket operation: a peer
    sending a byte a second would never time out."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._connections: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def connection(self, cls: type[http.client.HTTPConnection]) -> Any:
        def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            conn = cls(host, **kwargs)
            with self._lock:
                self._connections.append(conn)
                if self.expired:
                    raise TimeoutError("deadline passed")
            return conn
        return make

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for conn in self._connections:
                sock = conn.sock
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass  # already closed

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


class _DeadlineHTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self.deadline.connection(http.client.HTTPConnection), req)


class _DeadlineHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self.deadline.connection(http.client.HTTPSConnection), req,
                            context=getattr(self, "_context", None))


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirect(), _DeadlineHTTP(deadline), _DeadlineHTTPS(deadline))

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def _request(method: str, url: str, payload: Any, headers: dict[str, str], timeout: float, peer: str,
             token: str | None) -> HttpReply:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    request.add_header("User-Agent", "gymconsole")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in headers.items():
        request.add_header(name, value)
    with _Deadline(timeout) as deadline:
        try:
            return _exchange(request, deadline, timeout, peer, token, url)
        except DeliveryError:
            if deadline.expired:  # whatever the shut-down socket made of it, the deadline is the reason
                raise DeliveryError(f"{peer} did not answer within {timeout:g} s", retryable=True) from None
            raise


def _exchange(request: urllib.request.Request, deadline: _Deadline, timeout: float, peer: str, token: str | None,
              url: str) -> HttpReply:
    try:
        with _opener(deadline).open(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        detail = ""
        try:
            detail = exc.read(400).decode("utf-8", "replace")
        except OSError:
            pass
        retryable = exc.code in RETRYABLE_STATUS
        text = f"{peer} answered HTTP {exc.code}" + (f": {detail}" if detail.strip() else "")
        raise DeliveryError(scrub(text, token, url), retryable=retryable) from None
    except urllib.error.URLError as exc:
        raise DeliveryError(scrub(f"cannot reach {peer}: {_reason(exc.reason)}", token, url), retryable=True) from None
    except (TimeoutError, socket.timeout):
        raise DeliveryError(f"{peer} did not answer within {timeout:g} s", retryable=True) from None
    except (ConnectionError, ssl.SSLError, OSError, http.client.HTTPException) as exc:
        raise DeliveryError(scrub(f"cannot reach {peer}: {_reason(exc)}", token, url), retryable=True) from None
    if deadline.expired:  # a body cut short by the deadline is not an answer
        raise DeliveryError(f"{peer} did not answer within {timeout:g} s", retryable=True)
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    return HttpReply(status, body)


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, BaseException):
        return str(reason) or type(reason).__name__
    return str(reason)


async def http_json(method: str, url: str, payload: Any = None, *, peer: str, token: str | None = None,
                    headers: dict[str, str] | None = None, timeout: float = 10.0) -> HttpReply:
    """One JSON request in a worker thread; anything but a 2xx raises :class:`DeliveryError`.

    ``peer`` names the other side in error messages ("the SMS gateway"); the
    URL and the token never appear in them.
    """
    return await asyncio.to_thread(_request, method, url, payload, dict(headers or {}), timeout, peer, token)
