"""``make bench`` section ``imports``: 100,000 members and 1,000,000 invoices through ``gymconsole import``.

The floor, measured in the same run on the same machine: a plain ``csv`` +
``executemany`` load of the same rows into the same schema (the same indexes,
the same connection settings), converting only what the schema needs (amounts
to cents).  The importer does everything a real export needs on top: encoding
and delimiter detection, header mapping, parsing each value, a staging table,
duplicate and unknown-member rejects, matching on external IDs and the report.
Aim: within 1.5x of the floor.  Memory: each import runs in its own process
and its peak RSS is compared at 250,000 and 1,000,000 invoices (streamed: flat).
A "messy" variant of the invoices (``$1,234.56``, ``MM/DD/YYYY``, ``Past Due``)
and re-importing the unchanged file are timed as well.
"""

from __future__ import annotations

import asyncio
import csv
import json
import random
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from gymconsole.db import Database

MEMBERS = 100_000
INVOICES = 1_000_000
SMALL_INVOICES = 250_000
AIM = 1.5
TODAY = date(2026, 11, 2)
STATUSES = ("active",) * 8 + ("frozen", "cancelled")
INVOICE_STATUSES = ("paid",) * 7 + ("open", "open", "void")
MESSY_STATUS = {"open": "Past Due", "paid": "Paid", "void": "Voided"}


def _write_files(folder: Path) -> dict[str, Path]:
    paths = {name: folder / f"{name}.csv" for name in ("members", "invoices", "invoices-messy", "invoices-250k")}
    if all(path.exists() for path in paths.values()):
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
            open(paths["invoices-messy"], "w", newline="", encoding="cp1252") as messy, \
            open(paths["invoices-250k"], "w", newline="", encoding="utf-8") as small:
        header = ["invoice_id", "member_id", "issued_on", "due_on", "amount", "status", "description"]
        writers = [csv.writer(clean), csv.writer(messy, delimiter=";"), csv.writer(small)]
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
                writers[2].writerow(row)
            writers[1].writerow([row[0], row[1], issued.strftime("%m/%d/%Y"), due.strftime("%m/%d/%Y"),
                                 f"${cents / 100:,.2f}", MESSY_STATUS[status], "Cuota mensual ñ"])
    return paths


async def _empty(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = await Database.open(path, create=True)
    await db.close()


def _floor(db_path: Path, members: Path, invoices: Path) -> tuple[float, float]:
    """The same rows loaded the plain way: csv.reader -> executemany, one transaction per file."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cache_size = -65536")
    times = []
    for path, sql, convert in (
        (members, "INSERT INTO members (external_id, first_name, last_name, email, phone, membership_type, standing, "
                  "status, join_date, last_visit, balance_cents, past_due_since, opted_out, notes) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
         lambda r: (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], round(float(r[10]) * 100),
                    r[11] or None, int(r[12]), r[13])),
        (invoices, "INSERT INTO invoices (external_id, member_id, issued_on, due_on, amount_cents, status, "
                   "description) VALUES (?, ?, ?, ?, ?, ?, ?)",
         lambda r: (r[0], int(r[1]), r[2], r[3], round(float(r[4]) * 100), r[5], r[6])),
    ):
        started = time.perf_counter()
        with open(path, newline="", encoding="utf-8") as source:
            reader = csv.reader(source)
            next(reader)
            conn.execute("BEGIN")
            conn.executemany(sql, (convert(row) for row in reader))
            conn.execute("COMMIT")
        times.append(time.perf_counter() - started)
    conn.close()
    return times[0], times[1]


_CHILD = """
import asyncio, json, resource, sys, time
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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_kb": peak, "new": report.new, "changed": report.changed,
                      "unchanged": report.unchanged, "rejected": report.rejected}))

asyncio.run(main())
"""


def _import(db_path: Path, table: str, path: Path) -> dict[str, float]:
    """One import in its own process (so its peak memory is its own)."""
    done = subprocess.run([sys.executable, "-c", _CHILD, str(db_path), table, str(path)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "import failed")
    return json.loads(done.stdout)


def run(workdir: Path) -> None:
    folder = workdir / "imports"
    folder.mkdir(exist_ok=True)
    started = time.perf_counter()
    paths = _write_files(folder)
    print(f"   files: {MEMBERS:,} members, {INVOICES:,} invoices (+ a messy copy) in {folder} "
          f"({time.perf_counter() - started:.1f} s to make or reuse)")
    floor_db, import_db = folder / "floor.db", folder / "import.db"
    asyncio.run(_empty(floor_db))
    floor_members, floor_invoices = _floor(floor_db, paths["members"], paths["invoices"])
    asyncio.run(_empty(import_db))
    members = _import(import_db, "members", paths["members"])
    invoices = _import(import_db, "invoices", paths["invoices"])
    again = _import(import_db, "invoices", paths["invoices"])
    asyncio.run(_empty(import_db))
    _import(import_db, "members", paths["members"])
    messy = _import(import_db, "invoices", paths["invoices-messy"])
    asyncio.run(_empty(import_db))
    _import(import_db, "members", paths["members"])
    small = _import(import_db, "invoices", paths["invoices-250k"])
    rows = [
        ("100,000 members", floor_members, members),
        ("1,000,000 invoices", floor_invoices, invoices),
        ("1,000,000 invoices, messy (cp1252, ;, $, US dates, words)", floor_invoices, messy),
        ("1,000,000 invoices again (all unchanged)", floor_invoices, again),
    ]
    print(f"   {'load':58} {'floor':>8} {'import':>8} {'ratio':>6}  aim <= {AIM}x")
    for label, floor, result in rows:
        ratio = result["seconds"] / floor
        flag = "" if ratio <= AIM else "  over the aim"
        print(f"   {label:58} {floor:7.2f}s {result['seconds']:7.2f}s {ratio:5.2f}x{flag}")
    total_floor = floor_members + floor_invoices
    total = members["seconds"] + invoices["seconds"]
    print(f"   {'members + invoices':58} {total_floor:7.2f}s {total:7.2f}s {total / total_floor:5.2f}x")
    print(f"   peak memory of the import process: {small['peak_kb'] / 1024:.0f} MB at {SMALL_INVOICES:,} invoices, "
          f"{invoices['peak_kb'] / 1024:.0f} MB at {INVOICES:,} (streamed: flat as the file grows)")
    assert invoices["new"] == INVOICES and again["unchanged"] == INVOICES and messy["new"] == INVOICES, (invoices, again, messy)
