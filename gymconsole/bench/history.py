"""``make bench`` section ``history``: the run history at a year of heavy use.

Builds ``history-100k.db`` under the work folder once (reused while it
exists): 100,000 runs over a year (ids growing with start times, as the
recorder writes them), about 2 million events of realistic JSON (narration,
tool calls with inputs and results, usage, approvals, the finish), and about
300,000 run subjects.  Then times, through :class:`HistoryStore`, median and
p95 of: a filtered page of runs (no filter, by workflow, status, since, member,
search text, a deep page), opening one run (``get_run`` + ``events``), and the
daily prune (the next oldest day's events past the retention; each bench run
prunes one more day of the cached file).  Aim: under 100 ms each.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gymconsole.clock import FrozenClock, iso
from gymconsole.db import Database
from gymconsole.engine.history import HistoryStore

RUNS = 100_000
DAYS = 365
MEMBERS = 40_000
SAMPLES = 20
TARGET_MS = 100.0
START = datetime(2025, 11, 2, 5, 0, tzinfo=UTC)
WORKFLOWS = {  # name: (share of runs, acting tool, reads)
    "past_due_monitoring": (0.45, "notify_past_due_member", ["get_past_due_members", "get_past_due_training_clients"]),
    "door_access": (0.45, "suspend_door_access", ["get_door_access_status", "get_member"]),
    "daily_campaigns": (0.04, "send_campaign", ["get_campaign_prospects", "get_green_members", "get_ppv_members"]),
    "daily_escalation": (0.04, "escalate_to_collections", ["get_past_due_members", "get_member"]),
    "referral_check": (0.01, "issue_referral_reward", ["get_referral_candidates"]),
    "invoice_review": (0.01, "flag_invoice", ["get_invoices_for_review", "get_member"]),
}
STATUSES = [("succeeded", 0.86), ("awaiting_approval", 0.05), ("failed", 0.03), ("missed", 0.02),
            ("skipped", 0.02), ("cancelled", 0.01), ("budget_exhausted", 0.005), ("interrupted", 0.005)]
FIRST = ["Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hana", "Ines", "Jon", "Kenji", "Lena", "Omar"]
LAST = ["Adams", "Brown", "Chen", "Diaz", "Evans", "Garcia", "Hall", "Ito", "Jones", "Khan", "Lopez", "Nguyen"]
NARRATION = [
    "Checking members with balances past due before deciding who gets a reminder today.",
    "The list shows {n} members past due; {k} of them have already had a final notice.",
    "Looking at door access against payments: suspensions need a person to approve.",
    "I'll queue the reminders now and leave the final notices for members over {d} days.",
    "Nothing else needs doing; summarising what was sent and what was skipped.",
]


def _person(rng: random.Random) -> dict[str, Any]:
    return {"id": rng.randrange(1, MEMBERS), "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "balance": round(rng.uniform(20, 900), 2), "days_past_due": rng.randrange(1, 200)}


def _run_events(rng: random.Random, workflow: str, status: str, at: str) -> tuple[list[tuple[Any, ...]], set[int]]:
    """One run's events as (seq, at, kind, data) and the members it touched."""
    _, act, reads = WORKFLOWS[workflow]
    events: list[tuple[str, dict[str, Any]]] = [
        ("run_started", {"mode": "claude", "trigger": "schedule", "dry_run": False, "model": "claude-sonnet-4-5"})]
    touched: set[int] = set()
    if status in ("missed", "skipped"):
        return [(1, at, "notice", json.dumps({"level": "warning", "message": f"scheduled run {status}"}))], touched
    for iteration in range(1, rng.randint(2, 6)):
        events.append(("iteration_started", {"iteration": iteration}))
        for _ in range(2):
            events.append(("text", {"text": rng.choice(NARRATION).format(
                n=rng.randrange(5, 60), k=rng.randrange(5), d=rng.randrange(7, 30))}))
        tool = rng.choice(reads)
        people = [_person(rng) for _ in range(rng.randint(1, 5))]
        touched.update(p["id"] for p in people if tool == "get_member")
        events.append(("tool_started", {"call_id": f"toolu_{rng.getrandbits(48):012x}", "name": tool,
                                        "input": {"limit": 5}, "risk": "safe"}))
        events.append(("tool_finished", {"call_id": "", "name": tool, "summary": f"{len(people)} rows",
                                         "result": {"count": len(people), "sample": people}, "duration_ms": 3.2,
                                         "is_error": False, "risk": "safe", "decision": None, "subjects": []}))
        events.append(("usage", {"input_tokens": 1800 * iteration, "output_tokens": 240 * iteration,
                                 "cache_read_tokens": 1500, "cache_write_tokens": 0, "cost_usd": 0.01 * iteration,
                                 "request_bytes": 9000}))
    targets = [_person(rng) for _ in range(rng.randint(1, 6))]
    touched.update(p["id"] for p in targets)
    ids = [p["id"] for p in targets]
    events.append(("tool_started", {"call_id": "c9", "name": act, "input": {"member_ids": ids}, "risk": "high"}))
    events.append(("approval_requested", {"approval_id": rng.randrange(1, 10**6), "tool": act, "risk": "high",
                                          "title": f"{act}: {len(ids)} targets", "plan": {"items": targets},
                                          "timeout_seconds": 300.0}))
    events.append(("approval_decided", {"approval_id": 1, "tool": act, "status": "approved", "via": "tui",
                                        "actor": "manager", "reason": "", "approved_count": len(ids)}))
    events.append(("tool_finished", {"call_id": "c9", "name": act, "summary": f"{len(ids)} done", "result": {
        "done_count": len(ids)}, "duration_ms": 41.0, "is_error": False, "risk": "high", "decision": "approved",
        "subjects": [["member", i] for i in ids]}))
    events.append(("run_finished", {"status": status, "summary": "done", "error": None, "iterations": 3}))
    return [(seq, at, kind, json.dumps(data, separators=(",", ":")))
            for seq, (kind, data) in enumerate(events, 1)], touched


def _summary(rng: random.Random, workflow: str, status: str) -> tuple[str, str | None]:
    if status == "failed":
        return "", rng.choice(["API error 529 overloaded after 4 retries", "internal error: KeyError 'member'"])
    if status in ("missed", "skipped"):
        return f"scheduled run {status}: the previous run was still in progress", None
    n = rng.randrange(0, 40)
    return {"past_due_monitoring": f"{n} members past due, ${n * 137:,} owed; sent {n // 2} reminders",
            "door_access": f"Suspended {n % 7} members, restored {n % 3}",
            "daily_campaigns": f"Queued {n * 10} campaign messages to prospects at stage trial",
            "daily_escalation": f"Escalated {n % 4} accounts to collections",
            "referral_check": f"Credited {n % 9} referral rewards of $25.00",
            "invoice_review": f"Flagged {n % 11} invoices (duplicates, large amounts)"}[workflow], None


def _runs(rng: random.Random) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]], set[int]]]:
    names = list(WORKFLOWS)
    shares = [WORKFLOWS[n][0] for n in names]
    statuses, weights = zip(*STATUSES, strict=True)
    step = DAYS * 86400 / RUNS
    for index in range(RUNS):
        workflow = rng.choices(names, shares)[0]
        status = rng.choices(statuses, weights)[0]
        started = START + timedelta(seconds=index * step)
        summary, error = _summary(rng, workflow, status)
        at = iso(started)
        events, touched = _run_events(rng, workflow, status, at)
        ended = iso(started + timedelta(seconds=rng.randrange(5, 120)))
        row = (workflow, "schedule", "claude", status, at, ended, 3, 5400, 720, 4500, 0, 0.03, summary, error)
        yield row, events, touched


async def _build(path: Path) -> str:
    if path.exists():
        return "cached"
    started = time.perf_counter()
    partial = path.with_suffix(".building")
    for leftover in partial.parent.glob(partial.name + "*"):
        leftover.unlink()
    db = await Database.open(partial, create=True)  # the real schema and indexes
    await db.close()
    rng = random.Random(42)
    conn = sqlite3.connect(partial)
    conn.execute("PRAGMA synchronous = OFF")
    events = subjects = 0
    run_rows, event_rows, subject_rows = [], [], []

    def flush() -> None:
        with conn:
            conn.executemany("INSERT INTO runs (id, workflow, trigger, mode, status, started_at, ended_at, iterations,"
                             " input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, summary,"
                             " error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", run_rows)
            conn.executemany("INSERT INTO run_events (run_id, seq, at, kind, data) VALUES (?, ?, ?, ?, ?)", event_rows)
            conn.executemany("INSERT INTO run_subjects (run_id, subject_kind, subject_id) VALUES (?, 'member', ?)",
                             subject_rows)
        run_rows.clear(), event_rows.clear(), subject_rows.clear()

    for run_id, (row, run_events, touched) in enumerate(_runs(rng), 1):
        run_rows.append((run_id, *row))
        event_rows.extend((run_id, *event) for event in run_events)
        subject_rows.extend((run_id, member) for member in sorted(touched))
        events += len(run_events)
        subjects += len(touched)
        if len(event_rows) > 200_000:
            flush()
    flush()
    conn.execute("ANALYZE")
    conn.close()
    partial.rename(path)
    return (f"built in {time.perf_counter() - started:.0f} s: {RUNS:,} runs, {events:,} events, {subjects:,} subjects, "
            f"{path.stat().st_size / 2**20:.0f} MB")


async def _time(call: Callable[[int], Awaitable[Any]]) -> tuple[float, float]:
    samples = []
    for attempt in range(SAMPLES + 2):
        started = time.perf_counter()
        await call(attempt)
        if attempt >= 2:
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


async def _measure(path: Path) -> list[tuple[str, float, float, str]]:
    db = await Database.open(path)
    try:
        end = START + timedelta(days=DAYS)
        store = HistoryStore(db, FrozenClock(end))
        rng = random.Random(7)
        top = await db.fetch_value("SELECT MAX(id) FROM runs")
        members = [r["subject_id"] for r in await db.fetch_all(
            "SELECT subject_id FROM run_subjects WHERE subject_kind = 'member' AND run_id > ? LIMIT 50", (top - 500,))]
        cases: list[tuple[str, Callable[[int], Awaitable[Any]]]] = [
            ("page: newest 50", lambda i: store.list_runs()),
            ("page: by workflow", lambda i: store.list_runs(workflow=list(WORKFLOWS)[i % 6])),
            ("page: by status failed", lambda i: store.list_runs(status="failed")),
            ("page: by status interrupted", lambda i: store.list_runs(status="interrupted")),
            ("page: since yesterday", lambda i: store.list_runs(since=end - timedelta(days=1))),
            ("page: since 90 days, workflow", lambda i: store.list_runs(since=end - timedelta(days=90),
                                                                        workflow="referral_check")),
            ("page: by member", lambda i: store.list_runs(subject=("member", members[i % len(members)]))),
            ("page: search common text", lambda i: store.list_runs(search="reminders")),
            ("page: search rare text", lambda i: store.list_runs(search="KeyError")),
            ("page: search absent text", lambda i: store.list_runs(search="no such words")),
            ("page: deep (before id)", lambda i: store.list_runs(before_id=rng.randrange(1000, top), status="failed")),
            ("open one run", lambda i: _open(store, rng.randrange(1, top))),
        ]
        results = []
        for name, call in cases:
            median, p95 = await _time(call)
            results.append((name, median, p95, ""))
        oldest = await db.fetch_value("SELECT MIN(started_at) FROM runs WHERE pruned_at IS NULL")
        if oldest is not None:
            first = datetime.fromisoformat(oldest).replace(tzinfo=UTC)
            retention = 90
            pruner = HistoryStore(db, FrozenClock(first + timedelta(days=retention + 1)))
            started = time.perf_counter()
            deleted = await pruner.prune(retention)
            elapsed = (time.perf_counter() - started) * 1000
            results.append(("prune one day (daily job)", elapsed, elapsed, f"{deleted:,} events"))
        return results
    finally:
        await db.close()


async def _open(store: HistoryStore, run_id: int) -> None:
    await store.get_run(run_id)
    await store.events(run_id)


def run(workdir: Path) -> None:
    path = workdir / "history-100k.db"
    print(f"   history-100k.db: {asyncio.run(_build(path))}")
    print(f"   {'query':<32} {'median ms':>10} {'p95 ms':>9}")
    for name, median, p95, note in asyncio.run(_measure(path)):
        flag = "" if p95 < TARGET_MS else "  OVER TARGET"
        print(f"   {name:<32} {median:>10.2f} {p95:>9.2f}  {note}{flag}")
