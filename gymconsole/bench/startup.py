"""``python -m gymconsole.bench startup``: only the start-up rows of the ``ratios`` section.

The three whole-process commands against their floor, and the references
beside them, without the first paint, the outbox and the 100x tools: for
measuring a change to start-up in a minute rather than the whole bench.
``make bench`` runs these rows within ``ratios``.
"""

from __future__ import annotations

import os
from pathlib import Path

from gymconsole.bench.ratios import _print, _startup_notes, _startup_rows, verdict


def run(workdir: Path) -> bool:
    rounds = int(os.environ.get("BENCH_ROUNDS", "7"))
    print(f"   {'figure':<52} {'floor':>10} {'value':>12} {'ratio':>7} noise  aim")
    rows = _startup_rows(workdir, rounds)
    for row in rows:
        _print(row)
    for line in _startup_notes(rounds):
        print(line)
    if hasattr(os, "getloadavg"):
        print(f"   (load average {os.getloadavg()[0]:.2f})")
    return verdict(rows)
