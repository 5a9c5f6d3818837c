"""``make bench`` section ``imports``: 100,000 members and 1,000,000 invoices through the importer.

Each figure is a pair timed in the same run: the floor, then the import, of
the same rows into the same schema.  The floor is a plain ``csv.reader`` +
``executemany`` load (same indexes, same connection settings, one
transaction), converting only what the schema needs (amounts to cents).  The
importer does everything a real export needs on top: encoding and delimiter
detection, header mapping, parsing every value, a staging table, duplicate
and unknown-member rejects, matching on external IDs, the report and the
history run.  Every load runs in a process of its own (its peak memory is its
own) on a copy of the same starting database; the time is the load's, not
the interpreter's start.  Aim: within 1.5x of the floor; memory flat as the
file grows (the import's peak above the floor's, at 1,000,000 invoices
against 100,000).  A row
past its aim prints a ``FAIL:`` line and ``make bench`` exits non-zero.

Also shown, not judged: the first 100,000 of the invoices (the memory
comparison), a messy copy of them (cp1252, ``;``, ``$1,234.56``, US dates,
status words), and re-importing the unchanged 1,000,000.
``BENCH_IMPORT_ROUNDS=N`` times N pairs of each (median of the ratios);
the CSVs are made once under ``bench-data/imports/``.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

MEMBERS = 100_000
INVOICES = 1_000_000
SMALL_INVOICES = 100_000
AIM = 1.5
MEMORY_AIM_MB = 20
"""How much more the import may take above the floor's peak at 1,000,000 invoices than at 100,000.

Both processes grow alike as SQLite's page cache (64 MB, bounded) fills, so the figure is the importer's own
memory over the plain load: streamed, it stays flat; a file held whole would add hundreds of MB."""
TODAY = date(2026, 11, 2)
STATUSES = ("active",) * 8 + ("frozen", "cancelled")
INVOICE_STATUSES = ("paid",) * 7 + ("open", "open", "void")
MESSY_STATUS = {"open": "Past Due", "paid": "Paid", "void": "Voided"}
FILES_VERSION = "2"
"""Bumped when the generated files change: older copies in bench-data/ are made again."""


def _write_files(folder: Path) -> dict[str, Path]:
    names = ("members", "invoices", "invoices-100k", "invoices-100k-messy")
    paths = {name: folder / f"{name}.csv" for name in names}
    stamp = folder / "files.version"
    if stamp.exists() and stamp.read_text() == FILES_VERSION and all(path.exists() for path in paths.values()):
        return paths
    rng = random.Random(14)
    with open(paths["members"], "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["member_id", "first_name", "last_name", "email", "phone", "membership_type", "standing",
                         "status", "join_date", "last_visit", "balance", "past_due_since", "opted_out", "notes"])
        for n in range(1, MEMBERS + 1):
            owes = rng.random() < 0.1
            writer.writerow([n, f"First{n}", f"Last{n}", f"m{n}@example.com", f"555-{n:07d}", "monthly",
                             "yellow" if owes else "green", rng.choice(STATUSES),
                             (TODAY - timedelta(days=rng.randrange(30, 2000))).isoformat(),
                             (TODAY - timedelta(days=rng.randrange(0, 90))).isoformat(),
                             f"{rng.randrange(100, 30000) / 100:.2f}" if owes else "0.00",
                             (TODAY - timedelta(days=rng.randrange(1, 120))).isoformat() if owes else "", "0", ""])
    with open(paths["invoices"], "w", newline="", encoding="utf-8") as clean, \
            open(paths["invoices-100k"], "w", newline="", encoding="utf-8") as small, \
            open(paths["invoices-100k-messy"], "w", newline="", encoding="cp1252") as messy:
        header = ["invoice_id", "member_id", "issued_on", "due_on", "amount", "status", "description"]
        writers = [csv.writer(clean), csv.writer(small), csv.writer(messy, delimiter=";")]
        for writer in writers:
            writer.writerow(header)
        for n in range(1, INVOICES + 1):
            issued = TODAY - timedelta(days=rng.randrange(0, 1500))
            due = issued + timedelta(days=14)
            cents = rng.choice((6400, 6400, 6400, 12900, 4900, rng.randrange(100, 250000)))
            status = rng.choice(INVOICE_STATUSES)
            row = [f"INV{n}", rng.randrange(1, MEMBERS + 1), issued.isoformat(), due.isoformat(), f"{cents / 100:.2f}",
                   status, "Monthly dues"]
            writers[0].writerow(row)
            if n <= SMALL_INVOICES:
                writers[1].writerow(row)
                writers[2].writerow([row[0], row[1], issued.strftime("%m/%d/%Y"), due.strftime("%m/%d/%Y"),
                                     f"${cents / 100:,.2f}", MESSY_STATUS[status], "Cuota mensual ñ"])
    stamp.write_text(FILES_VERSION)
    return paths


_FLOOR = """
import csv, json, sqlite3, sys, time
try:
    import resource
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
except ImportError:  # Windows: no peak figure
    peak = lambda: 0
db, table, path = sys.argv[1:4]
SQL = {
    "members": ("INSERT INTO members (external_id, first_name, last_name, email, phone, membership_type, standing, "
                "status, join_date, last_visit, balance_cents, past_due_since, opted_out, notes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                lambda r: (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], round(float(r[10]) * 100),
                           r[11] or None, int(r[12]), r[13])),
    "invoices": ("INSERT INTO invoices (external_id, member_id, issued_on, due_on, amount_cents, status, description) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)",
                 lambda r: (r[0], int(r[1]), r[2], r[3], round(float(r[4]) * 100), r[5], r[6])),
}
sql, convert = SQL[table]
conn = sqlite3.connect(db, isolation_level=None)
conn.execute("PRAGMA synchronous = FULL")
conn.execute("PRAGMA foreign_keys = ON")
conn.execute("PRAGMA cache_size = -65536")
started = time.perf_counter()
with open(path, newline="", encoding="utf-8") as source:
    reader = csv.reader(source)
    next(reader)
    conn.execute("BEGIN")
    conn.executemany(sql, (convert(row) for row in reader))
    conn.execute("COMMIT")
seconds = time.perf_counter() - started
rows = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
conn.close()
print(json.dumps({"seconds": seconds, "peak_kb": peak(), "new": rows}))
"""

_IMPORT = """
import asyncio, json, sys, time
try:
    import resource
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
except ImportError:  # Windows: no peak figure
    peak = lambda: 0
from datetime import UTC, datetime
from pathlib import Path
from gymconsole.clock import FrozenClock
from gymconsole.config import Config
from gymconsole.db import Database
from gymconsole.importer.service import import_file

async def main():
    db = await Database.open(sys.argv[1])
    try:
        started = time.perf_counter()
        report = await import_file(db, Config(), FrozenClock(datetime(2026, 11, 2, 15, tzinfo=UTC)), sys.argv[2],
                                   Path(sys.argv[3]), partial=True)
        seconds = time.perf_counter() - started
    finally:
        await db.close()
    print(json.dumps({"seconds": seconds, "peak_kb": peak(),
                      "new": report.new, "changed": report.changed, "unchanged": report.unchanged,
                      "rejected": report.rejected}))

asyncio.run(main())
"""


def _child(script: str, db: Path, table: str, path: Path) -> dict[str, float]:
    """One load in a process of its own; a failure stops the bench with the child's last line."""
    done = subprocess.run([sys.executable, "-c", script, str(db), table, str(path)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(f"{table} load of {path.name} failed: {lines[-1] if lines else done.returncode}")
    return json.loads(done.stdout)


def _fresh(source: Path, target: Path) -> Path:
    """``target`` as a copy of the database ``source`` (closed: no WAL beside it)."""
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, target)
    return target


def _empty_database(path: Path) -> Path:
    from gymconsole.db import Database

    async def make() -> None:
        db = await Database.open(path, create=True)
        await db.close()

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    asyncio.run(make())
    return path


@dataclass
class Pair:
    """One figure: floor and import timed alternately, ``rounds`` times."""

    label: str
    floors: list[dict[str, float]]
    imports: list[dict[str, float]]
    aim: float | None = AIM

    @property
    def floor(self) -> float:
        return statistics.median(f["seconds"] for f in self.floors)

    @property
    def value(self) -> float:
        return statistics.median(i["seconds"] for i in self.imports)

    @property
    def ratio(self) -> float:
        return statistics.median(i["seconds"] / f["seconds"] for f, i in zip(self.floors, self.imports))

    @property
    def peak_mb(self) -> float:
        return max(i["peak_kb"] for i in self.imports) / 1024

    @property
    def failed(self) -> bool:
        return self.aim is not None and self.ratio > self.aim


def _pairs(label: str, start: Path, work: Path, table: str, floor_file: Path, import_file: Path, rounds: int,
           expect_new: int, aim: float | None = AIM) -> tuple[Pair, Path]:
    """Floor, import, floor, import ... each on a fresh copy of ``start``; the last import's database is kept."""
    floors, imports = [], []
    kept = work / f"{table}-imported.db"
    for _ in range(rounds):
        floors.append(_child(_FLOOR, _fresh(start, work / "floor.db"), table, floor_file))
        imports.append(_child(_IMPORT, _fresh(start, kept), table, import_file))
    for result in floors:
        if result["new"] != expect_new:
            raise RuntimeError(f"{label}: the floor loaded {result['new']:,} rows, not {expect_new:,}")
    for result in imports:
        if result["new"] != expect_new or result["rejected"]:
            raise RuntimeError(f"{label}: {result['new']:,} new and {result['rejected']:,} rejected, "
                               f"not {expect_new:,} new")
    return Pair(label, floors, imports, aim), kept


def run(workdir: Path) -> bool:
    """Measure and print every row; False when a figure is past its aim."""
    rounds = max(1, int(os.environ.get("BENCH_IMPORT_ROUNDS", "1")))
    folder = workdir / "imports"
    folder.mkdir(exist_ok=True)
    started = time.perf_counter()
    paths = _write_files(folder)
    print(f"   files: {MEMBERS:,} members, {INVOICES:,} invoices, {SMALL_INVOICES:,} invoices clean and messy, in "
          f"{folder} ({time.perf_counter() - started:.1f} s to make or reuse); {rounds} pair(s) a figure")
    empty = _empty_database(folder / "empty.db")
    members, with_members = _pairs(f"{MEMBERS:,} members", empty, folder, "members", paths["members"],
                                   paths["members"], rounds, MEMBERS)
    start = _fresh(with_members, folder / "with-members.db")
    small, _ = _pairs(f"{SMALL_INVOICES:,} invoices (for memory: the same rows, a tenth)", start, folder, "invoices",
                      paths["invoices-100k"], paths["invoices-100k"], rounds, SMALL_INVOICES, aim=None)
    messy, _ = _pairs(f"{SMALL_INVOICES:,} invoices, messy (cp1252, ;, $, US dates, words)", start, folder,
                      "invoices", paths["invoices-100k"], paths["invoices-100k-messy"], rounds, SMALL_INVOICES,
                      aim=None)
    invoices, with_invoices = _pairs(f"{INVOICES:,} invoices", start, folder, "invoices", paths["invoices"],
                                     paths["invoices"], rounds, INVOICES)
    again = _child(_IMPORT, with_invoices, "invoices", paths["invoices"])
    if again["unchanged"] != INVOICES:
        raise RuntimeError(f"re-importing the same invoices: {again}")
    again_pair = Pair(f"{INVOICES:,} invoices again (all unchanged)", invoices.floors[-1:], [again], aim=None)
    figures = [members, small, messy, invoices, again_pair]
    print(f"   {'load':58} {'floor':>8} {'import':>8} {'ratio':>6} {'peak':>7}  aim")
    for figure in figures:
        aim = f"<= {figure.aim:g}x  {'FAILED' if figure.failed else 'ok'}" if figure.aim else "(shown, not judged)"
        print(f"   {figure.label:58} {figure.floor:7.2f}s {figure.value:7.2f}s {figure.ratio:5.2f}x "
              f"{figure.peak_mb:5.0f}MB  {aim}")
    total_floor = members.floor + invoices.floor
    total = members.value + invoices.value
    total_ratio = total / total_floor
    print(f"   {'members + invoices (the issue figure)':58} {total_floor:7.2f}s {total:7.2f}s {total_ratio:5.2f}x "
          f"{'':7}  <= {AIM:g}x  {'FAILED' if total_ratio > AIM else 'ok'}")
    floor_peaks = (max(f["peak_kb"] for f in small.floors) / 1024, max(f["peak_kb"] for f in invoices.floors) / 1024)
    extra = (small.peak_mb - floor_peaks[0], invoices.peak_mb - floor_peaks[1])
    growth = extra[1] - extra[0] if small.peak_mb else 0.0
    print(f"   peak memory (RSS) at {SMALL_INVOICES:,} -> {INVOICES:,} invoices: import {small.peak_mb:.0f} -> "
          f"{invoices.peak_mb:.0f} MB, floor {floor_peaks[0]:.0f} -> {floor_peaks[1]:.0f} MB; the import's own "
          f"{extra[0]:.0f} -> {extra[1]:.0f} MB ({growth:+.0f} MB for 10x the rows)  aim <= +{MEMORY_AIM_MB} MB  "
          f"{'FAILED' if growth > MEMORY_AIM_MB else 'ok'}")
    failures = [f"{figure.label}: {figure.ratio:.2f}x the floor, past the aim of {figure.aim:g}x"
                for figure in figures if figure.failed]
    if total_ratio > AIM:
        failures.append(f"members + invoices: {total_ratio:.2f}x the floor, past the aim of {AIM:g}x")
    if growth > MEMORY_AIM_MB:
        failures.append(f"the import's memory above the floor grew {growth:.0f} MB from {SMALL_INVOICES:,} to "
                        f"{INVOICES:,} invoices, past {MEMORY_AIM_MB} MB: not streamed")
    for line in failures:
        print(f"FAIL: {line}")
    return not failures
