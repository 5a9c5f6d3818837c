"""A real program in a pseudo-terminal, driven by keys as a person would: type, then time until the screen shows.

POSIX only (``pty``).  The timing of a key runs from writing it to the terminal to
reading the first output that contains the marker: the program's whole path,
key decoding, handling, drawing and writing the frame, with nothing of a test
harness in between (Textual's ``Pilot.press`` waits in 20 ms steps until the app
looks idle, which a figure of tens of milliseconds cannot carry).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Sequence
from types import TracebackType

from gymconsole.bench.measure import child_env


class PtySession:
    """``with PtySession(argv, size) as session: session.until(b"..."); session.key(b"h", until=b"...")``."""

    def __init__(self, argv: Sequence[str], size: tuple[int, int], *, env: dict[str, str] | None = None) -> None:
        self.argv, self.size, self.env = list(argv), size, env or {}
        self.output = bytearray()
        self._master = -1
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    def __enter__(self) -> PtySession:
        import fcntl
        import pty
        import struct
        import termios

        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.size[1], self.size[0], 0, 0))
        environment = {**child_env(), "TERM": "xterm-256color", "COLUMNS": str(self.size[0]),
                       "LINES": str(self.size[1]), **self.env}
        self._started = time.perf_counter()
        self._process = subprocess.Popen(self.argv, stdin=slave, stdout=slave, stderr=slave, env=environment,
                                         close_fds=True, start_new_session=True)
        os.close(slave)
        self._master = master
        return self

    def until(self, marker: bytes, *, timeout: float = 30.0, since: int = 0) -> float:
        """Seconds from the start of the session until ``marker`` shows in the output after offset ``since``."""
        return self._wait(marker, since, self._started, timeout)

    def key(self, keys: bytes, *, until: bytes | Sequence[bytes], timeout: float = 30.0) -> float:
        """Type ``keys``; seconds until ``until`` (each of them, when several) shows in what the program writes
        after them."""
        self.drain()
        since = len(self.output)
        typed = time.perf_counter()
        os.write(self._master, keys)
        for marker in [until] if isinstance(until, bytes) else until:
            self._wait(marker, since, typed, timeout)
        return time.perf_counter() - typed

    def drain(self, quiet: float = 0.0) -> None:
        """Read what the program has written; with ``quiet``, until it has written nothing for that long."""
        while True:
            ready, _, _ = select.select([self._master], [], [], quiet)
            if not ready:
                return
            self._read()

    def _read(self) -> None:
        try:
            chunk = os.read(self._master, 65536)
        except OSError as exc:
            raise RuntimeError(f"{' '.join(self.argv)} closed its terminal: {bytes(self.output[-300:])!r}") from exc
        if not chunk:
            raise RuntimeError(f"{' '.join(self.argv)} closed its terminal: {bytes(self.output[-300:])!r}")
        self.output += chunk

    def _wait(self, marker: bytes, since: int, start: float, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while marker not in self.output[since:]:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise RuntimeError(f"{' '.join(self.argv)}: never showed {marker!r}: {bytes(self.output[-300:])!r}")
            ready, _, _ = select.select([self._master], [], [], min(left, 0.05))
            if ready:
                self._read()
        return time.perf_counter() - start

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        process = self._process
        try:
            if process is not None and process.poll() is None:
                os.write(self._master, b"\x11")  # ctrl+q
                deadline = time.perf_counter() + 10
                while process.poll() is None and time.perf_counter() < deadline:
                    try:  # it draws as it quits: read, or it blocks on a full terminal
                        self.drain(0.05)
                    except RuntimeError:
                        break  # it closed the terminal: exited
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        finally:
            if self._master >= 0:
                os.close(self._master)
