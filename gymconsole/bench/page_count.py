"""``python -m gymconsole.bench.page_count [WxH ...]``: instructions a next page of the history costs, 100,000 runs.

Wall-clock figures of a next page (~13 ms) spread by ±20-40 % on this shared machine; callgrind
counts instructions, load-independent.  The console runs under callgrind in a pseudo-terminal,
started through this module (``--console``), which marks the work of each next page for callgrind:
``os.getppid()`` as the key's action starts (callgrind zeroes its counters there) and
``os.getpgrp()`` once Textual has handed its driver the frame that shows the page, its status line
and its first run (callgrind writes the count out there).  What is counted is the key's action, the
query, putting the page in, drawing and composing the frame: everything but decoding the key.
The first next page is left out: under callgrind, work that is due once after start-up (the
collector's start-up freeze, loading after the first paint) can fall in it.  Shown, not judged:
the ``ratios`` section's wall-clock row is the figure.  POSIX with valgrind only.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

PAGES = 5


def count(workdir: Path, size: tuple[int, int], pages: int = PAGES) -> list[int]:
    """Instructions of each next page after the first, typed at ``size``."""
    from gymconsole.bench.measure import python
    from gymconsole.bench.pty_session import PtySession
    from gymconsole.bench.tui import FIRST_PAINT_MARKER, ROOT, history_database

    copy = workdir / "page-count.db"
    shutil.copyfile(history_database(workdir), copy)
    config = workdir / "page-count.toml"  # the shipped configuration, its scheduler paused: nothing runs
    config.write_text((ROOT / "config.toml").read_text(encoding="utf-8").replace(
        "start_paused = false", "start_paused = true"), encoding="utf-8")
    with tempfile.TemporaryDirectory() as folder:
        argv = ["valgrind", "--tool=callgrind", "--zero-before=getppid", "--dump-before=getpgrp",
                f"--callgrind-out-file={folder}/count.%p",
                *python("-m", "gymconsole.bench.page_count", "--console", "--config", str(config), "--db", str(copy),
                        "--offline")]
        with PtySession(argv, size, env={"PYTHONHASHSEED": "0"}) as session:
            session.until(FIRST_PAINT_MARKER, timeout=600)
            session.drain(quiet=5.0)
            session.key(b"h", until="page 1 ·".encode(), timeout=300)
            session.drain(quiet=3.0)
            for page in range(2, pages + 2):
                session.key(b"]", until=f"page {page} ·".encode(), timeout=300)
                session.drain(quiet=2.0)
        parts = {}
        for dump in Path(folder).glob("count.*.*"):  # count.PID.N: the Nth page counted
            text = dump.read_text(encoding="utf-8", errors="replace")
            found = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if found:
                parts[int(dump.name.rsplit(".", 1)[1])] = int(found.group(1))
    counted = [parts[part] for part in sorted(parts)][1:]
    if len(counted) < pages - 1:
        raise RuntimeError(f"callgrind counted {len(parts)} next pages of {pages}")
    return counted


def _mark_pages() -> None:
    """Inside the console: mark each next page's work for callgrind (see the module's docstring)."""
    from textual.drivers import linux_driver

    from gymconsole.tui.screens.history import HistoryScreen

    waiting: dict[str, Any] = {}
    next_page, write = HistoryScreen.action_next_page, linux_driver.LinuxDriver.write

    def counted_next_page(self: HistoryScreen) -> None:
        waiting.update(status=f"page {self._page + 2} ·", screen=self, seen=False)
        os.getppid()
        next_page(self)

    def write_then_mark(self: Any, data: str) -> None:
        write(self, data)
        screen = waiting.get("screen")
        if screen is None:
            return
        waiting["seen"] = waiting["seen"] or waiting["status"] in data
        table = screen.query_one("#history-table")
        first = str(next(iter(table.rows)).value) if table.row_count else None
        if waiting["seen"] and first is not None and first in data:
            waiting.clear()
            os.getpgrp()

    HistoryScreen.action_next_page = counted_next_page  # type: ignore[method-assign]
    linux_driver.LinuxDriver.write = write_then_mark  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--console"]:
        import runpy

        _mark_pages()
        sys.argv = ["gymconsole", *argv[1:]]
        runpy.run_module("gymconsole", run_name="__main__", alter_sys=True)
        return 0
    if os.name != "posix" or shutil.which("valgrind") is None:
        print("page_count: needs a POSIX pseudo-terminal and valgrind")
        return 1
    from gymconsole.bench.tui import SIZE

    workdir = Path("bench-data")
    workdir.mkdir(exist_ok=True)
    sizes = [size.split("x") for size in argv]
    if not all(len(size) == 2 and all(n.isdigit() for n in size) for size in sizes):
        print("usage: python -m gymconsole.bench.page_count [WIDTHxHEIGHT ...]  (default: 80x24 120x36 160x48)")
        return 2
    for width, height in [(int(w), int(h)) for w, h in sizes] or [(80, 24), SIZE, (160, 48)]:
        counts = count(workdir, (width, height))
        print(f"   history next page at {width}x{height}: {statistics.median(counts) / 1e6:6.1f} M instructions"
              f" (median of {len(counts)}: {', '.join(f'{n / 1e6:.1f}' for n in counts)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
