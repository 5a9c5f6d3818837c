"""Helpers for the safety tests: configs with other policies, a gate with recorded events, digests of the gym
tables, hand-made members, and (run as a script) a child process that stops dead right after an act.

Run as ``python tests/helpers_safety.py MODE ARGS...`` it installs a test-only hook, then runs
``gymconsole ARGS...``: with MODE ``after_commit`` it prints ``ACTED`` after the first transaction that
recorded an act has committed, with ``before_commit`` just before that transaction commits; then it blocks
until the test kills it with SIGKILL.  The hook lives here, never in the product.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HISTORY_TABLES = {"runs", "run_events", "run_subjects", "approvals", "audit_log", "scheduler_state"}
"""Tables a dry run may write (its own history); everything else is the gym's and must not change."""


def with_safety(config: Any, **changes: Any) -> Any:
    """The config with ``[safety]`` fields replaced (``policy`` is completed with the defaults)."""
    if "policy" in changes:
        changes["policy"] = {"safe": "auto", "moderate": "auto", "high": "ask"} | changes["policy"]
    return config.model_copy(update={"safety": config.safety.model_copy(update=changes)})


def with_thresholds(config: Any, **changes: Any) -> Any:
    return config.model_copy(update={"thresholds": config.thresholds.model_copy(update=changes)})


def gym_digest(path: Path) -> dict[str, str]:
    """Per gym table, a hash of its whole content (after a WAL checkpoint), in a stable order."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out = {}
        for table in tables:
            if table in HISTORY_TABLES:
                continue
            digest = hashlib.sha256()
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1"):  # noqa: S608 (our own table names)
                digest.update(json.dumps(row, default=str).encode())
            out[table] = digest.hexdigest()
        return out
    finally:
        conn.close()


def count(path: Path, sql: str, params: tuple[Any, ...] = ()) -> Any:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


def rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


class Recorder:
    """An event-bus subscriber that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]


async def add_member(db: Any, member_id: int, *, status: str = "active", standing: str = "red",
                     balance_cents: int = 20000, past_due_since: str | None = "2026-09-01", opted_out: int = 0,
                     door: str | None = "active", email: str | None = "x@example.com", first: str = "Pat",
                     last: str | None = None, notes: str = "") -> None:
    """One member (and a door credential unless ``door`` is None) written straight into the database."""
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO members (id, first_name, last_name, email, phone, membership_type, standing, status, join_date, "
            "balance_cents, past_due_since, opted_out, notes) VALUES (?, ?, ?, ?, ?, 'monthly', ?, ?, '2024-01-01', ?, "
            "?, ?, ?)",
            [member_id, first, last or f"Member{member_id}", email, "+15550000", standing, status, balance_cents,
             past_due_since, opted_out, notes])
        if door is not None:
            await tx.execute("INSERT INTO door_credentials (member_id, badge_code, access_state, changed_at, reason) "
                             "VALUES (?, ?, ?, '2026-10-01T12:00:00', '')", [member_id, f"B{member_id:04d}", door])


async def add_prospect(db: Any, prospect_id: int, *, stage: str = "new", opted_out: int = 0,
                       last_contacted: str | None = None, email: str | None = "p@example.com") -> None:
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO prospects (id, first_name, last_name, email, phone, source, stage, created_at, last_contacted, "
            "opted_out) VALUES (?, 'Sam', ?, ?, '+15551111', 'web', ?, '2026-01-01T00:00:00', ?, ?)",
            [prospect_id, f"Prospect{prospect_id}", email, stage, last_contacted, opted_out])


async def add_final_notice(db: Any, member_id: int, created_at: str, status: str = "sent") -> None:
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO outbox (effect_key, kind, channel, person_kind, person_id, to_address, body, status, created_at)"
            " VALUES (?, 'final_notice', 'email', 'member', ?, 'x@example.com', 'final', ?, ?)",
            [f"test:notice:member-{member_id}:{created_at}", member_id, status, created_at])


Asker = Callable[[Any], Awaitable[Any]]


def build_world(folder: Path, **thresholds: int) -> tuple[Path, Path]:
    """For subprocesses on the real clock: a demo database dated today (in the gym's timezone) and a copy of
    the shipped config without quiet hours (and with these ``[thresholds]`` lines changed)."""
    import asyncio
    import re
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from gymconsole.config import load_config
    from gymconsole.db.demo import create_demo

    zone = load_config(ROOT / "config.toml").scheduler.timezone
    template = folder / "template.db"
    asyncio.run(create_demo(template, scale=1, today=datetime.now(ZoneInfo(zone)).date()))
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    changes = {"quiet_hours_start": "\"none\"", "quiet_hours_end": "\"none\"", **thresholds}
    for key, value in changes.items():
        text, found = re.subn(rf"(?m)^{key} = [\d.]+", f"{key} = {value}", text)
        assert found == 1, key
    config = folder / "config.toml"
    config.write_text(text, encoding="utf-8")
    return template, config


def gymconsole_env() -> dict[str, str]:
    """The environment of a child gymconsole: no API key, so nothing can reach Claude."""
    import os

    return {**os.environ, "ANTHROPIC_API_KEY": "", "CLAUDE_API_KEY": ""}


# --- the child process of the SIGKILL tests -------------------------------------------------------


def _install_hook(mode: str) -> None:
    """Stop dead (block) right after, or right before the commit of, the first transaction that acted."""
    from contextlib import asynccontextmanager

    from gymconsole.db import connection
    from gymconsole.tools import ledger

    state = {"acted": False}
    original_mark = ledger.mark_done
    original_write = connection.Database.write

    def stop() -> None:
        print("ACTED", flush=True)
        time.sleep(60)  # blocks the loop (and, before the commit, holds the write transaction) until SIGKILL
        raise SystemExit("the test should have killed this process")

    async def mark_done(*args: Any, **kwargs: Any) -> None:
        await original_mark(*args, **kwargs)
        state["acted"] = True
        if mode == "before_commit":
            stop()

    @asynccontextmanager
    async def write(self: Any) -> Any:
        async with original_write(self) as tx:
            yield tx
        if state["acted"] and mode == "after_commit":
            stop()

    ledger.mark_done = mark_done  # type: ignore[assignment]
    connection.Database.write = write  # type: ignore[method-assign]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _install_hook(sys.argv[1])
    from gymconsole.cli import main

    sys.exit(main(sys.argv[2:]))
