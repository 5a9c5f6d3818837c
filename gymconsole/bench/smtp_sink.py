"""A local SMTP sink for the outbox bench (aiosmtpd, from the test extra): it takes and counts every message."""

from __future__ import annotations

import socket
import threading
from typing import Any


class _Counter:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
        return "250 OK"


class SmtpSink:
    """``with SmtpSink() as sink``: ``sink.port`` on 127.0.0.1, ``sink.count`` messages taken."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self._handler = _Counter()
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=port, ready_timeout=10)
        self.port = port

    @property
    def count(self) -> int:
        return self._handler.count

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
