"""A local SMTP sink for the outbox bench (aiosmtpd, from the test extra): it takes and counts every message.

It runs in a process of its own, as a mail server does: in the bench's own
process its thread competed with the sender and the floor for the GIL, and
the figure measured that contention more than either sender.  It does not
offer PIPELINING (aiosmtpd does not): advertising it by hand made every
message slower here (about 9 ms instead of 3-6 ms a message, measured with
the sender's own batches), so the bench measures the plain command-by-command
conversation the floor has too.  The pipelined path is checked for
correctness in tests/test_delivery_batch.py.

``python -m gymconsole.bench.smtp_sink`` prints its port, serves until its
standard input closes, then prints how many messages it took.
"""

from __future__ import annotations

import socket
import subprocess
import sys
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
    """``with SmtpSink() as sink``: ``sink.port`` on 127.0.0.1; ``sink.count`` messages taken, known once closed."""

    def __init__(self) -> None:
        self.port = 0
        self.count: int | None = None
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> SmtpSink:
        self._process = subprocess.Popen([sys.executable, "-m", "gymconsole.bench.smtp_sink"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self._process.kill()
            raise RuntimeError(f"the SMTP sink did not start: {line!r}")
        self.port = int(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is None:
            return
        out, _ = self._process.communicate(timeout=30)
        self.count = int(out.strip() or 0)


def main() -> None:
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # aiosmtpd's controller cannot take port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = _Counter()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        print(port, flush=True)
        sys.stdin.read()
    finally:
        controller.stop()
    print(handler.count, flush=True)


if __name__ == "__main__":
    main()
