"""``make bench``: every section's figures, on the demo data and at 100x scale.

Each section is a module here with ``run(workdir: Path) -> None`` that prints
its own table; data is built under ``bench-data/`` and reused between runs.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

SECTIONS = ["tools", "engine", "history", "tui", "imports", "ratios", "soak"]


def main(argv: list[str]) -> int:
    workdir = Path("bench-data")
    workdir.mkdir(exist_ok=True)
    wanted = argv or SECTIONS
    failed = []
    for name in wanted:
        try:
            module = importlib.import_module(f"gymconsole.bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"gymconsole.bench.{name}":
                raise
            print(f"\n== {name}: not built yet")
            continue
        print(f"\n== {name}")
        started = time.perf_counter()
        if module.run(workdir) is False:  # a section that checks aims says False when one failed
            failed.append(name)
        print(f"   ({time.perf_counter() - started:.1f} s)")
    if failed:
        print(f"make bench: FAILED in {', '.join(failed)} (see the FAIL lines above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
