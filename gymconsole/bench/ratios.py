"""``make bench`` section ``ratios``: issue 15's figures, each as a ratio to a floor timed in the same run.

Every row alternates its floor and the real thing (floor, subject, floor,
subject, ...) and reports the median of the per-pair ratios, so a machine
busy with other work slows both sides alike; the noise column is half the
interquartile range of those ratios.  ``BENCH_ROWS=paint,history`` measures only
the rows named (startup, paint, tools, outbox, history).  A row fails when it is past its aim by
more than its measured noise, and then the bench exits non-zero with one line
per failed row.  Floors live beside this file: ``floor_tui`` (a minimal
Textual app), ``floor_sqlite`` (the same statements on plain sqlite3),
``floor_smtp`` (plain smtplib on one connection); the whole-process floor is
``python -c "import sqlite3, pydantic, aiosqlite, rich"``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
from datetime import UTC, date, datetime, time as dtime
from pathlib import Path
from typing import Any

from gymconsole.bench.measure import Ratio, first_paint, paired, python, whole_process

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config.toml"
IMPORT_FLOOR = "import sqlite3, pydantic, aiosqlite, rich"
PAINT_MARKER = b"workflows (times in"
PAINT_SIZE = (160, 48)
OUTBOX_MESSAGES = 300
TOOL_ROWS: list[tuple[str, dict[str, Any], float, str]] = [
    ("get_member", {"member_id": 1}, 3.0, "raw sqlite3, same query"),
    ("get_past_due_training_clients", {}, 1.2, "raw sqlite3, covering indexes"),
    ("get_ppv_members", {}, 1.2, "raw sqlite3, hand-written indexes"),
    ("get_referral_candidates", {}, 1.2, "raw sqlite3, hand-written indexes"),
    ("get_campaign_prospects", {}, 1.2, "raw sqlite3, hand-written indexes"),
]


def _startup_rows(workdir: Path, rounds: int) -> list[Ratio]:
    from gymconsole.bench.tui import demo_database

    db = workdir / "ratios-demo.db"
    shutil.copyfile(demo_database(workdir), db)
    floor = whole_process(python("-c", IMPORT_FLOOR))
    common = ["-m", "gymconsole", "--config", str(CONFIG), "--db", str(db)]
    rows = []
    for label, argv in (("gymconsole tool get_member (whole process)", ["tool", "get_member", '{"member_id":1}']),
                        ("gymconsole workflows --json (whole process)", ["workflows", "--json"]),
                        ("gymconsole history --json (whole process)", ["history", "--json"])):
        f, s, ratio, noise = paired(floor, whole_process(python(*common, *argv)), rounds)
        rows.append(Ratio(label, "python -c 'import sqlite3, pydantic, aiosqlite, rich'", f, s, ratio, noise, 1.5))
    return rows


def _startup_notes(rounds: int) -> list[str]:
    """What of the commands' start-up the floor leaves out, timed against it (shown, not judged): its
    ``import pydantic`` loads no model machinery, defining any model class loads the rest of it, and the
    configuration is validated once, then rebuilt from the per-user cache by every later command."""
    floor = whole_process(python("-c", IMPORT_FLOOR))
    notes = []
    for label, extra in (("+ `from pydantic import BaseModel`", "from pydantic import BaseModel"),
                         ("+ one pydantic model class defined", "from pydantic import BaseModel\n"
                          "class A(BaseModel, defer_build=True):\n    x: int = 1"),
                         ("+ the configuration validated",
                          f"from gymconsole.config import load_config; load_config({str(CONFIG)!r})"),
                         ("+ the configuration from the cache",
                          f"from gymconsole.config_cache import load_config_cached as c; c({str(CONFIG)!r})")):
        code = f"import os; os.environ['PYDANTIC_DISABLE_PLUGINS'] = '__all__'; {IMPORT_FLOOR}; {extra}"  # as the CLI
        _, _, ratio, noise = paired(floor, whole_process(python("-c", code)), rounds)
        notes.append(f"   {'  the floor ' + label:<52} {'':>10} {'':>12} {ratio:6.2f}x ±{noise * 100:3.0f}%  (reference)")
    return notes


def _first_paint_row(workdir: Path, rounds: int) -> Ratio:
    from gymconsole.bench.tui import demo_database

    db = workdir / "ratios-paint.db"
    shutil.copyfile(demo_database(workdir), db)
    floor = first_paint(python("-m", "gymconsole.bench.floor_tui"), PAINT_MARKER, PAINT_SIZE)
    console = first_paint(python("-m", "gymconsole", "--config", str(CONFIG), "--db", str(db), "--offline"),
                          PAINT_MARKER, PAINT_SIZE)
    f, s, ratio, noise = paired(floor, console, rounds)
    return Ratio("console first paint (dashboard, 160x48)", "minimal Textual app: a Static, a 6-row DataTable",
                 f, s, ratio, noise, 1.3)


def _first_paint_note(rounds: int) -> list[str]:
    """The floor app with gymconsole's configuration loaded before it starts, as the console does (from the cache
    once validated; shown, not judged): how much of the first paint is the configuration (pydantic and the models)."""
    floor = first_paint(python("-m", "gymconsole.bench.floor_tui"), PAINT_MARKER, PAINT_SIZE)
    configured = first_paint(python("-m", "gymconsole.bench.floor_tui", str(CONFIG)), PAINT_MARKER, PAINT_SIZE)
    _, _, ratio, noise = paired(floor, configured, rounds)
    return [f"   {'  the floor + the configuration loaded first':<52} {'':>10} {'':>12} {ratio:6.2f}x "
            f"±{noise * 100:3.0f}%  (reference)"]


def _history_rows(workdir: Path, rounds: int) -> list[Any]:
    """Opening the history screen and its next page, typed into a real console in a pseudo-terminal (absolute:
    there is no floor), at 120x36; 80x24 and 160x48 are shown beside it."""
    from gymconsole.bench.tui import HISTORY_RUNS, floor_key, history_keys

    if os.name != "posix":
        return []
    floor = statistics.median(floor_key() for _ in range(rounds)) * 1000
    rows: list[Any] = [f"   {'  a key to its frame in the minimal Textual app':<52} {'':>10} {floor:8.1f} ms"
                       f"           (reference: the machine's load)"]
    for size, count in (((120, 36), rounds), ((80, 24), max(2, rounds // 2)), ((160, 48), max(2, rounds // 2))):
        figures = [history_keys(workdir, size) for _ in range(count)]
        for key, label, aim in (("open", f"history screen opening, {HISTORY_RUNS:,} runs", 150.0),
                                ("next page", "history next page", 50.0)):
            samples = [f[key] * 1000 for f in figures]
            median = statistics.median(samples)
            noise = (max(samples) - min(samples)) / 2 / median if median else 0.0
            if size == (120, 36):
                rows.append(Ratio(f"{label} ({size[0]}x{size[1]})", "—", 1.0, median, median, noise, aim,
                                  unit="ms (absolute)"))
            else:
                rows.append(f"   {'  ' + label + f' at {size[0]}x{size[1]}':<52} {'':>10} {median:8.1f} ms"
                            f"         ±{noise * 100:3.0f}%  (reference)")
    return rows


async def _outbox_row(workdir: Path, rounds: int) -> Ratio:
    from gymconsole.bench.floor_smtp import send_plain
    from gymconsole.bench.smtp_sink import SmtpSink
    from gymconsole.bench.tui import demo_database
    from gymconsole.clock import FrozenClock
    from gymconsole.config import DeliveryConfig, SafetyConfig, load_config
    from gymconsole.db import open_database
    from gymconsole.delivery.sender import OutboxSender

    path = workdir / "ratios-outbox.db"
    shutil.copyfile(demo_database(workdir), path)
    clock = FrozenClock(datetime(2026, 11, 2, 15, 0, tzinfo=UTC))
    with SmtpSink() as sink:
        base = load_config(CONFIG)
        pacing = {"per_hour": 1_000_000, "per_day": 1_000_000}
        config = base.model_copy(update={
            "delivery": DeliveryConfig.model_validate({
                "email": "smtp", "email_pacing": pacing,
                "smtp": {"host": "127.0.0.1", "port": sink.port, "security": "none", "from_address": "desk@gym.test"}}),
            "safety": SafetyConfig.model_validate(base.safety.model_dump() | {"quiet_hours_start": "none"})})
        async with open_database(path) as db:
            recipients = await _queue_outbox(db, clock)
            sender = OutboxSender(db, config, clock)

            def floor() -> float:
                return 1 / send_plain("127.0.0.1", sink.port, recipients)  # seconds per message

            async def subject() -> float:
                async with db.write() as tx:
                    await tx.execute("UPDATE outbox SET status = 'queued', attempts = 0, sent_at = NULL, "
                                     "claimed_at = NULL, claimed_by = NULL, next_attempt_at = NULL, last_error = NULL")
                started = asyncio.get_running_loop().time()
                report = await sender.drain_once()
                elapsed = asyncio.get_running_loop().time() - started
                if report.sent != len(recipients):
                    raise RuntimeError(f"the outbox bench sent {report.sent} of {len(recipients)}: {report.line()}")
                return elapsed / len(recipients)

            pairs = []
            for attempt in range(rounds + 1):
                f = floor()
                s = await subject()
                if attempt:  # the first pair warms up
                    pairs.append((f, s))
    ratios = [f / s for f, s in pairs]  # rate ratio: (1/s) / (1/f)
    median = statistics.median(ratios)
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) >= 4 else [min(ratios), median, max(ratios)]
    return Ratio(f"outbox delivery to a local SMTP sink ({len(recipients)} messages)",
                 "plain smtplib, one connection", 1 / statistics.median(f for f, _ in pairs),
                 1 / statistics.median(s for _, s in pairs), median, (quartiles[2] - quartiles[0]) / 2 / median,
                 0.6, higher_is_better=True, unit="msg/s")


async def _queue_outbox(db: Any, clock: Any) -> list[str]:
    from gymconsole.clock import iso

    people = await db.fetch_all("SELECT id, first_name, email FROM members WHERE opted_out = 0 AND status = 'active' "
                                "AND email IS NOT NULL ORDER BY id LIMIT ?", [OUTBOX_MESSAGES])
    async with db.write() as tx:
        await tx.execute("DELETE FROM outbox")
        await tx.executemany(
            "INSERT INTO outbox (effect_key, kind, channel, person_kind, person_id, to_address, subject, body, "
            "created_at) VALUES (?, 'campaign', 'email', 'member', ?, ?, 'Your account', ?, ?)",
            [(f"bench:{p['id']}", p["id"], p["email"], f"Hi {p['first_name']}, a note from the gym.",
              iso(clock.now())) for p in people])
    return [p["email"] for p in people]


async def _tool_rows(workdir: Path, rounds: int) -> list[Ratio]:
    from gymconsole.bench.floor_sqlite import raw_timer
    from gymconsole.bench.tools import _build
    from gymconsole.clock import FrozenClock
    from gymconsole.config import Config
    from gymconsole.db import Database
    from gymconsole.tools.base import ToolContext
    from gymconsole.tools.registry import call_tool

    path = workdir / "demo-100x.db"
    print(f"   {path.name}: {await _build(path, 100)}")
    db = await Database.open(path)
    rows = []
    try:
        today = date.fromisoformat(await db.meta("demo_today") or date.today().isoformat())
        clock = FrozenClock(datetime.combine(today, dtime(15, 0), tzinfo=UTC))
        ctx = ToolContext(db, Config(), clock, workflow="bench")

        async def refuse(*_: Any) -> Any:
            raise RuntimeError("read tools only")

        for name, args, aim, floor_label in TOOL_ROWS:
            seen: list[str] = []
            await db.set_trace_callback(seen.append)
            try:
                outcome = await call_tool(ctx, name, args, None, refuse)
            finally:
                await db.set_trace_callback(None)
            if outcome.is_error:
                raise RuntimeError(f"{name} failed: {outcome.result}")
            floor, close = raw_timer(path, [sql for sql in seen if not sql.lstrip().upper().startswith("PRAGMA")])
            try:
                loop = asyncio.get_running_loop()
                pairs = []
                for attempt in range(rounds + 5):
                    f = floor()
                    started = loop.time()
                    await call_tool(ctx, name, args, None, refuse)
                    s = loop.time() - started
                    if attempt >= 5:
                        pairs.append((f, s))
            finally:
                close()
            ratios = [s / f for f, s in pairs]
            median = statistics.median(ratios)
            quartiles = statistics.quantiles(ratios, n=4)
            rows.append(Ratio(f"{name} in-process at 100x", floor_label, statistics.median(f for f, _ in pairs),
                              statistics.median(s for _, s in pairs), median,
                              (quartiles[2] - quartiles[0]) / 2 / median, aim))
    finally:
        await db.close()
    return rows


def _print(row: Ratio) -> None:
    if row.floor_label == "—":
        value = f"{row.value:8.1f} ms"
        print(f"   {row.figure:<52} {'—':>10} {value:>12} {'':>7} ±{row.noise * 100:3.0f}%  aim < {row.aim:.0f} ms"
              f"  {'ok' if row.passed else 'MISSED'}")
        return
    if row.unit == "msg/s":
        floor, value = f"{row.floor:7.0f}/s", f"{row.value:8.0f}/s"
        aim = f">= {row.aim:.1f}x"
    else:
        floor, value = f"{row.floor * 1000:7.2f} ms", f"{row.value * 1000:8.2f} ms"
        aim = f"<= {row.aim:.1f}x"
    print(f"   {row.figure:<52} {floor:>10} {value:>12} {row.ratio:6.2f}x ±{row.noise * 100:3.0f}%  aim {aim}"
          f"  {'ok' if row.passed else 'MISSED'}")
    print(f"   {'':<52} floor: {row.floor_label}")


def run(workdir: Path) -> bool:
    """Measure and print every row; False when a row failed (past its aim by more than its noise)."""
    rounds = int(os.environ.get("BENCH_ROUNDS", "7"))
    print(f"   {'figure':<52} {'floor':>10} {'value':>12} {'ratio':>7} noise  aim")
    rows: list[Ratio] = []
    sections: list[tuple[str, Any]] = [
        ("startup", lambda: _startup_rows(workdir, rounds)),
        ("startup", lambda: _startup_notes(rounds)),
        ("paint", lambda: [_first_paint_row(workdir, rounds)] if os.name == "posix" else []),
        ("paint", lambda: _first_paint_note(rounds) if os.name == "posix" else []),
        ("tools", lambda: asyncio.run(_tool_rows(workdir, rounds * 10))),
        ("outbox", lambda: [asyncio.run(_outbox_row(workdir, max(5, rounds)))]),
        ("history", lambda: _history_rows(workdir, max(3, rounds // 2))),
    ]
    chosen = {name.strip() for name in os.environ.get("BENCH_ROWS", "").split(",") if name.strip()}
    unknown = chosen - {name for name, _ in sections}
    if unknown:
        raise SystemExit(f"BENCH_ROWS: no such rows {', '.join(sorted(unknown))} "
                         f"(choose from {', '.join(dict.fromkeys(name for name, _ in sections))})")
    for name, section in sections:
        if chosen and name not in chosen:
            continue
        for row in section():
            if isinstance(row, str):  # a reference line: shown beside the rows, never a failure
                print(row)
                continue
            _print(row)
            rows.append(row)
    return verdict(rows)


def verdict(rows: list[Ratio]) -> bool:
    """One FAIL line per row past its aim by more than its noise; False when there is one."""
    failed = [row for row in rows if row.failed]
    for row in failed:
        bound = "below" if row.higher_is_better else "above"
        print(f"FAIL: {row.figure}: {row.ratio:.2f} is {bound} its aim {row.aim:g} by more than the measured "
              f"noise (±{row.noise * 100:.0f}%)")
    missed = [row for row in rows if not row.passed and not row.failed]
    if missed:
        print(f"   ({len(missed)} row(s) missed the aim within the measured noise: not counted as failures)")
    return not failed
