"""Timing helpers for the ratio bench: paired runs against a floor, medians and measured noise.

Every figure is timed alternately with its floor in the same run (floor,
subject, floor, subject, ...), so a machine busy with other work slows both;
the figure is the median of the per-pair ratios, and the noise is how far
those ratios spread (half the interquartile range, relative to the median).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass
class Ratio:
    """One row of the bench table."""

    figure: str
    floor_label: str
    floor: float
    """Median floor value (seconds, or messages per second when ``higher_is_better``)."""
    value: float
    ratio: float
    noise: float
    """Relative spread of the paired ratios (0.1 = ±10 %)."""
    aim: float
    higher_is_better: bool = False
    unit: str = "ms"

    @property
    def passed(self) -> bool:
        return self.ratio >= self.aim if self.higher_is_better else self.ratio <= self.aim

    @property
    def failed(self) -> bool:
        """Past the aim by more than the measured noise: a regression, not a busy machine."""
        slack = self.aim * self.noise
        return self.ratio < self.aim - slack if self.higher_is_better else self.ratio > self.aim + slack


def paired(floor: Callable[[], float], subject: Callable[[], float], rounds: int, *,
           warmup: int = 1, higher_is_better: bool = False) -> tuple[float, float, float, float]:
    """``(median floor, median subject, median ratio, noise)`` of ``rounds`` alternating pairs."""
    for _ in range(warmup):
        floor()
        subject()
    floors, subjects, ratios = [], [], []
    for _ in range(rounds):
        f = floor()
        s = subject()
        floors.append(f)
        subjects.append(s)
        ratios.append(s / f if f else float("inf"))
    median = statistics.median(ratios)
    if len(ratios) >= 4:
        quartiles = statistics.quantiles(ratios, n=4)
        noise = (quartiles[2] - quartiles[0]) / 2 / median if median else 0.0
    else:
        noise = (max(ratios) - min(ratios)) / 2 / median if median else 0.0
    return statistics.median(floors), statistics.median(subjects), median, noise


def child_env() -> dict[str, str]:
    """The environment for timed children: bytecode is cached as on an installed machine."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def whole_process(argv: Sequence[str], *, cwd: str | None = None) -> Callable[[], float]:
    """A timer of one whole process (spawn to exit); a failure stops the bench with its message."""
    env = child_env()

    def run() -> float:
        started = time.perf_counter()
        result = subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.decode()[-400:]}")
        return elapsed

    return run


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def first_paint(argv: Sequence[str], marker: bytes, size: tuple[int, int], *, timeout: float = 30.0,
                env: dict[str, str] | None = None) -> Callable[[], float]:
    """A timer of spawn to the first frame showing ``marker`` in a pseudo-terminal (POSIX); a key then quits."""

    def run() -> float:
        seconds, code, output = pty_until(argv, marker, size, timeout=timeout, env=env)
        if seconds == float("inf"):
            raise RuntimeError(f"{' '.join(argv)}: never showed {marker!r} (exit {code}): {output[-300:]!r}")
        return seconds

    return run


def pty_until(argv: Sequence[str], until: bytes, size: tuple[int, int], *, timeout: float = 30.0,
              then: bytes = b"q", env: dict[str, str] | None = None) -> tuple[float, int, bytes]:
    """Run ``argv`` in a pty; seconds until ``until`` appears, the exit code, the output."""
    import fcntl
    import pty
    import select
    import signal
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    environment = {**child_env(), "TERM": "xterm-256color", "COLUMNS": str(size[0]), "LINES": str(size[1]),
                   **(env or {})}
    started = time.perf_counter()
    process = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, env=environment, close_fds=True,
                               start_new_session=True)
    os.close(slave)
    output = bytearray()
    seen_at: float | None = None
    deadline = started + timeout
    try:
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([master], [], [], 0.02)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                output += chunk
                if seen_at is None and until in output:
                    seen_at = time.perf_counter() - started
                    os.write(master, then)
            if process.poll() is not None and not ready:
                break
        try:
            code = process.wait(timeout=max(0.1, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            code = process.wait()
    finally:
        os.close(master)
    return (seen_at if seen_at is not None else float("inf")), code, bytes(output)
