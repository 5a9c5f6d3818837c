"""What every adapter shares: secrets from the environment, one-line errors, JSON over HTTP.

Secrets (SMTP password, gateway and controller tokens, the Slack webhook URL)
are read from the environment at the moment they are needed and are never put
into an error message, a log line or the database: errors name the peer by its
role ("the SMS gateway"), never by URL.  HTTP goes through ``urllib`` in a
worker thread with a hard timeout; redirects are refused so a token is never
forwarded to another host.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import ssl
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


_OPENER = urllib.request.build_opener(_NoRedirect())

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
    try:
        with _OPENER.open(request, timeout=timeout) as response:
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
    except (ConnectionError, ssl.SSLError, OSError) as exc:
        raise DeliveryError(scrub(f"cannot reach {peer}: {_reason(exc)}", token, url), retryable=True) from None
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
