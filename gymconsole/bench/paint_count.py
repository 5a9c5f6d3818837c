"""``python -m gymconsole.bench.paint_count``: instructions from spawn to the first frame, console against its floor.

Wall-clock first paints on this shared machine spread by ±20-40 %; valgrind's
callgrind counts instructions, load-independent.  Each program runs under
callgrind in a pseudo-terminal (160x48) through :mod:`gymconsole.bench.paint_stop`,
which ends the process as Textual hands the driver the first frame carrying
the dashboard's table title: what is counted is exactly the work before that
frame (a signal sent on seeing the frame would also count whatever the process
did meanwhile).  ``PYTHONHASHSEED=0`` makes the counts repeat to a few M
(with random hashing they spread by ±2 %); each program is run once untimed first,
so its bytecode is cached as on every start but the first.  Shown, not judged:
the ``ratios`` section's wall-clock row is the figure.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from gymconsole.bench.measure import python
from gymconsole.bench.ratios import CONFIG, PAINT_MARKER, PAINT_SIZE

STOP = ["-m", "gymconsole.bench.paint_stop"]


def count(argv: list[str]) -> int:
    """Instructions until ``argv``'s first frame with the marker (run once untimed first)."""
    _in_pty(argv)
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "callgrind.log"
        _in_pty(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", f"--log-file={log}", *argv])
        found = re.search(r"Collected : (\d+)", log.read_text(encoding="utf-8", errors="replace"))
    if found is None:
        raise RuntimeError(f"callgrind counted nothing for {' '.join(argv)}")
    return int(found.group(1))


def _in_pty(argv: list[str], timeout: float = 900.0) -> None:
    """Run ``argv`` in a pseudo-terminal of the bench's size until it exits; it must exit 0 (it drew the frame)."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios
    import time

    from gymconsole.bench.measure import child_env

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", PAINT_SIZE[1], PAINT_SIZE[0], 0, 0))
    env = {**child_env(), "TERM": "xterm-256color", "PYTHONHASHSEED": "0"}
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                               start_new_session=True)
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    output += os.read(master, 65536)
                except OSError:
                    break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {code} before its first frame: {bytes(output[-300:])!r}")


def run(db: Path) -> list[str]:
    programs = {
        "the floor (a Static, a 6-row DataTable)": python(*STOP, "gymconsole.bench.floor_tui"),
        "the floor + the configuration from the cache": python(*STOP, "gymconsole.bench.floor_tui", str(CONFIG)),
        "the console (dashboard)": python(*STOP, "gymconsole", "--config", str(CONFIG), "--db", str(db), "--offline"),
    }
    counts = {label: count(argv) for label, argv in programs.items()}
    floor = next(iter(counts.values()))
    return [f"   {'  instructions to the first frame: ' + label:<78} {value / 1e6:7.0f} M {value / floor:6.2f}x"
            for label, value in counts.items()]


if __name__ == "__main__":
    from gymconsole.bench.tui import demo_database

    workdir = Path(tempfile.gettempdir()) / "gymconsole-bench"
    workdir.mkdir(parents=True, exist_ok=True)
    for line in run(demo_database(workdir)):
        print(line)
    sys.exit(0)
