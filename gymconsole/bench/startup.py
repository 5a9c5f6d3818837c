"""``python -m gymconsole.bench startup``: only the start-up rows of the ``ratios`` section.

The three whole-process commands against their floor, and the references
beside them, without the first paint, the outbox and the 100x tools: for
measuring a change to start-up in a minute rather than the whole bench.
``make bench`` runs these rows within ``ratios``.

With valgrind installed it also counts the instructions each process executes
(callgrind): on a machine shared with other work the wall-clock pairs spread
by ±20-30 %, the counts by about 1 %, so they show what a change did.  They
are shown, not judged: the rows above are the figures.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gymconsole.bench.measure import child_env, python
from gymconsole.bench.ratios import CONFIG, IMPORT_FLOOR, _print, _startup_notes, _startup_rows, verdict

COMMANDS = {"tool get_member": ["tool", "get_member", '{"member_id":1}'], "workflows --json": ["workflows", "--json"],
            "history --json": ["history", "--json"]}


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
    if shutil.which("valgrind"):
        for line in instruction_counts(workdir / "ratios-demo.db"):
            print(line)
    return verdict(rows)


def instruction_counts(db: Path) -> list[str]:
    """Millions of instructions of the floor and of each command (its configuration already cached)."""
    common = ["-m", "gymconsole", "--config", str(CONFIG), "--db", str(db)]
    argvs = {"the floor": python("-c", IMPORT_FLOOR), **{name: python(*common, *argv) for name, argv in COMMANDS.items()}}
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(argvs, pool.map(_instructions, argvs.values())))
    floor = counts["the floor"]
    return [f"   {'  instructions (callgrind): ' + name:<52} {count / 1e6:8.0f} M {count / floor:14.2f}x"
            for name, count in counts.items()]


def _instructions(argv: list[str]) -> int:
    result = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=child_env())
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind of {' '.join(argv)} failed: {result.stderr[-300:]}")
    return int(found.group(1))
