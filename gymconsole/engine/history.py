"""The run history: every run and every event of it, in SQLite.

:class:`RunRecorder` is an event-bus subscriber.  It writes each event to
``run_events`` as it arrives, one committed transaction per event, and keeps
the ``runs`` row current (iterations, tokens, cost, then status and summary),
so a crash loses at most the event in flight.  The one exception is the
model's narration: consecutive :class:`TextDelta` chunks are buffered and
stored as one ``text`` event when another kind of event arrives, when the
buffer reaches :data:`TEXT_FLUSH_BYTES`, or :data:`TEXT_FLUSH_SECONDS` after
its first chunk (a timer), whichever comes first.  A crash therefore loses
at most that much narration (half a second or 2 KB), never a tool call, a
decision or a status.

:class:`HistoryStore` reads it back: keyset-paginated, filtered pages of runs
(newest first, by id), one run with its events, per-workflow last runs and
today's totals; it marks runs orphaned by a dead process ``interrupted`` and
prunes the events of old runs (their rows and subjects stay).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from gymconsole.clock import Clock, iso
from gymconsole.db import Database, Transaction
from gymconsole.process import same_process_alive, this_process

if TYPE_CHECKING:  # the event classes load where events are written or read back: listing runs needs none
    from gymconsole.engine.events import Event, TextDelta

log = logging.getLogger(__name__)

TEXT_FLUSH_BYTES = 2048
"""Buffered narration is written once it reaches this many bytes ..."""
TEXT_FLUSH_SECONDS = 0.5
"""... or this long after its first chunk."""

STATUSES = ("running", "succeeded", "failed", "cancelled", "awaiting_approval", "budget_exhausted",
            "interrupted", "missed", "skipped", "truncated", "context_exceeded", "rate_limited")
"""Every status a run row can have (``missed``/``skipped`` come from the scheduler)."""
FINAL_STATUSES = frozenset(STATUSES) - {"running"}
PRUNE_BATCH_RUNS = 200
"""Runs whose events one prune transaction deletes (keeps each write lock short)."""

_DROPPED_KEYS = ("kind", "run_id", "workflow")
"""Stored as columns (or on the run row), not repeated in every event's JSON."""


def _event_json(event: Event) -> str:
    data = event.to_dict()
    for key in _DROPPED_KEYS:
        data.pop(key, None)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass
class _RunState:
    """What the recorder keeps in memory about a run in progress."""

    next_seq: int = 1
    text: list[str] = field(default_factory=list)
    text_bytes: int = 0
    text_at: str = ""
    text_started: float = 0.0
    timer: asyncio.TimerHandle | None = None


class RunRecorder:
    """Writes runs and their events as they happen (an async :class:`EventBus` subscriber)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._runs: dict[int, _RunState] = {}
        self._unknown: set[int] = set()
        self._flushes: set[asyncio.Task[None]] = set()

    async def start_run(self, workflow: str, trigger: str, mode: str, dry_run: bool) -> int:
        """Insert the ``running`` row of a new run and return its id."""
        async with self.db.write() as tx:
            run_id = await tx.insert(
                "INSERT INTO runs (workflow, trigger, mode, dry_run, status, started_at, pid, pid_started)"
                " VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
                (workflow, trigger, mode, int(dry_run), iso(self.clock.now()), *this_process()))
        assert run_id is not None
        self._runs[run_id] = _RunState()
        return run_id

    async def record_skipped(self, workflow: str, trigger: str, status: str, reason: str, *,
                             mode: str = "offline", dry_run: bool = False) -> int:
        """Record a run that did not happen (``missed`` or ``skipped``) with the reason why."""
        if status not in ("missed", "skipped"):
            raise ValueError(f"record_skipped: status must be missed or skipped, not {status!r}")
        from gymconsole.engine.events import Notice

        now = iso(self.clock.now())
        notice = Notice(run_id=0, workflow=workflow, level="warning", message=reason)
        async with self.db.write() as tx:
            run_id = await tx.insert(
                "INSERT INTO runs (workflow, trigger, mode, dry_run, status, started_at, ended_at, summary)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (workflow, trigger, mode, int(dry_run), status, now, now, reason))
            await tx.execute("INSERT INTO run_events (run_id, seq, at, kind, data) VALUES (?, 1, ?, ?, ?)",
                             (run_id, now, notice.kind, _event_json(notice)))
        assert run_id is not None
        return run_id

    async def __call__(self, event: Event) -> None:
        """Store one event (the bus calls this for every event of every run)."""
        from gymconsole.engine.events import RunFinished, TextDelta, ThinkingDelta

        state = await self._state(event.run_id)
        if state is None:
            return
        if isinstance(event, ThinkingDelta):
            return  # shown live; the whole block is stored once (ThinkingBlock)
        if isinstance(event, TextDelta):
            self._buffer_text(event, state)
            if state.text_bytes >= TEXT_FLUSH_BYTES or \
                    self.clock.monotonic() - state.text_started >= TEXT_FLUSH_SECONDS:
                await self._flush_text(event.run_id, event.workflow)
            return
        if state.text:
            await self._flush_text(event.run_id, event.workflow)
        seq = state.next_seq
        state.next_seq += 1
        async with self.db.write() as tx:
            await tx.execute("INSERT INTO run_events (run_id, seq, at, kind, data) VALUES (?, ?, ?, ?, ?)",
                             (event.run_id, seq, iso(self.clock.now()), event.kind, _event_json(event)))
            await self._update_run(tx, event)
        if isinstance(event, RunFinished):
            self._runs.pop(event.run_id, None)

    async def flush(self) -> None:
        """Write every buffered piece of narration now (and wait for timer flushes in flight)."""
        for run_id, state in list(self._runs.items()):
            if state.text:
                await self._flush_text(run_id, "")
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)

    async def _state(self, run_id: int) -> _RunState | None:
        state = self._runs.get(run_id)
        if state is not None:
            return state
        if run_id in self._unknown:
            return None
        row = await self.db.fetch_one(
            "SELECT status, (SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_id = runs.id) AS seq"
            " FROM runs WHERE id = ?", (run_id,))
        if row is None:
            log.warning("history: event for unknown run #%s dropped", run_id)
            self._unknown.add(run_id)
            return None
        if row["status"] != "running":  # a late event (a pending approval decided later): not kept in memory
            return _RunState(next_seq=row["seq"] + 1)
        state = self._runs.setdefault(run_id, _RunState(next_seq=row["seq"] + 1))
        return state

    def _buffer_text(self, event: TextDelta, state: _RunState) -> None:
        if not state.text:
            state.text_at = iso(self.clock.now())
            state.text_started = self.clock.monotonic()
            loop = asyncio.get_running_loop()
            state.timer = loop.call_later(TEXT_FLUSH_SECONDS, self._timer_flush, event.run_id, event.workflow)
        state.text.append(event.text)
        state.text_bytes += len(event.text.encode("utf-8"))

    def _timer_flush(self, run_id: int, workflow: str) -> None:
        task = asyncio.get_running_loop().create_task(self._flush_text(run_id, workflow))
        self._flushes.add(task)
        task.add_done_callback(self._flush_done)

    def _flush_done(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("history: writing buffered narration failed", exc_info=task.exception())

    async def _flush_text(self, run_id: int, workflow: str) -> None:
        """Write the run's buffered narration as one ``text`` event (the seq is taken before awaiting)."""
        state = self._runs.get(run_id)
        if state is None or not state.text:
            return
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        text, at = "".join(state.text), state.text_at
        state.text, state.text_bytes = [], 0
        seq = state.next_seq
        state.next_seq += 1
        from gymconsole.engine.events import TextDelta

        event = TextDelta(run_id=run_id, workflow=workflow, text=text)
        async with self.db.write() as tx:
            await tx.execute("INSERT INTO run_events (run_id, seq, at, kind, data) VALUES (?, ?, ?, ?, ?)",
                             (run_id, seq, at, event.kind, _event_json(event)))

    async def _update_run(self, tx: Transaction, event: Event) -> None:
        from gymconsole.engine.events import IterationStarted, RunFinished, ToolCallFinished, UsageUpdated

        if isinstance(event, IterationStarted):
            await tx.execute("UPDATE runs SET iterations = MAX(iterations, ?) WHERE id = ?",
                             (event.iteration, event.run_id))
        elif isinstance(event, UsageUpdated):
            await tx.execute(
                "UPDATE runs SET input_tokens = ?, output_tokens = ?, cache_read_tokens = ?,"
                " cache_write_tokens = ?, cost_usd = ? WHERE id = ?",
                (event.input_tokens, event.output_tokens, event.cache_read_tokens, event.cache_write_tokens,
                 event.cost_usd, event.run_id))
        elif isinstance(event, ToolCallFinished) and event.subjects:
            pairs = {(str(kind), int(ident)) for kind, ident in (tuple(s)[:2] for s in event.subjects
                                                                 if len(s) >= 2 and _is_int(s[1]))}
            await tx.executemany(
                "INSERT OR IGNORE INTO run_subjects (run_id, subject_kind, subject_id) VALUES (?, ?, ?)",
                [(event.run_id, kind, ident) for kind, ident in sorted(pairs)])
        elif isinstance(event, RunFinished):
            status = event.status if event.status in FINAL_STATUSES else "failed"
            await tx.execute(
                "UPDATE runs SET status = ?, summary = ?, error = ?, ended_at = ?,"
                " iterations = MAX(iterations, ?), acts = ?, attention = ? WHERE id = ?",
                (status, event.summary, event.error, iso(self.clock.now()), event.iterations,
                 json.dumps(event.acts) if event.acts else None, event.attention, event.run_id))


def _is_int(value: Any) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool)




def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class HistoryStore:
    """Reads the run history (and its two maintenance writes: interrupted runs, pruning)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def mark_interrupted(self) -> int:
        """Runs left ``running`` by a process that is gone become ``interrupted``; returns how many.

        A run of this process, or of another live process (a console and a headless scheduler on
        one database), is left alone.  A run is known by its process's pid and start time, so a pid the
        OS has since given to an unrelated process does not keep the run ``running``.
        """
        rows = await self.db.fetch_all("SELECT id, pid, pid_started FROM runs WHERE status = 'running'")
        me = this_process()
        orphans = [row for row in rows
                   if (row["pid"], row["pid_started"]) != me and not same_process_alive(row["pid"], row["pid_started"])]
        now = iso(self.clock.now())
        marked = 0
        for row in orphans:
            message = f"the process running it (pid {row['pid']}) stopped before the run's end was recorded"
            async with self.db.write() as tx:
                changed = await tx.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = ?, error = ?"
                    " WHERE id = ? AND status = 'running'", (now, message, row["id"]))
                if not changed:
                    continue
                marked += 1
                run = await tx.fetch_one("SELECT workflow, iterations FROM runs WHERE id = ?", (row["id"],))
                seq = await tx.fetch_value("SELECT COALESCE(MAX(seq), 0) + 1 FROM run_events WHERE run_id = ?",
                                           (row["id"],))
                assert run is not None
                from gymconsole.engine.events import RunFinished

                event = RunFinished(run_id=row["id"], workflow=run["workflow"], status="interrupted",
                                    error=message, iterations=run["iterations"])
                await tx.execute("INSERT INTO run_events (run_id, seq, at, kind, data) VALUES (?, ?, ?, ?, ?)",
                                 (row["id"], seq, now, event.kind, _event_json(event)))
        return marked

    async def list_runs(self, *, workflow: str | None = None, status: str | None = None,
                        since: datetime | None = None, search: str | None = None,
                        subject: tuple[str, int] | None = None, limit: int = 50,
                        before_id: int | None = None) -> list[dict[str, Any]]:
        """One page of runs, newest first; pass the last id seen as ``before_id`` for the next page.

        ``since`` relies on ids growing with start times (rows are inserted at start, in order):
        the first run started at or after it bounds the id range.
        """
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            bound = await self.db.fetch_value(
                "SELECT id FROM runs WHERE started_at >= ? ORDER BY started_at, id LIMIT 1", (iso(since),))
            if bound is None:
                return []
            where += ["r.id >= ?", "r.started_at >= ?"]
            params += [bound, iso(since)]
        if workflow:
            where.append("r.workflow = ?")
            params.append(workflow)
        if status:
            where.append("r.status = ?")
            params.append(status)
        if search:
            clause, values = _search_clause(search)
            where.append(clause)
            params += values
        if before_id is not None:
            where.append("r.id < ?")
            params.append(before_id)
        if subject is not None:
            source = ("run_subjects s JOIN runs r ON r.id = s.run_id", "s.run_id")
            where = ["s.subject_kind = ?", "s.subject_id = ?"] + [w.replace("r.id", "s.run_id") for w in where]
            params = [subject[0], int(subject[1])] + params
        else:
            source = ("runs r", "r.id")
        sql = (f"SELECT r.* FROM {source[0]}" + (f" WHERE {' AND '.join(where)}" if where else "")
               + f" ORDER BY {source[1]} DESC LIMIT ?")
        # A page is a short read: answered where the screen asks, without a trip to the database thread (a slow
        # search still goes there, see db/quick.py).
        return (await self.db.fetch_batch([(sql, (*params, max(1, int(limit))))]))[0]

    async def get_run(self, run_id: int) -> dict[str, Any] | None:
        """One run's row, with ``subjects`` (``[kind, id]`` pairs it touched)."""
        run = await self.db.fetch_one("SELECT * FROM runs WHERE id = ?", (run_id,))
        if run is None:
            return None
        rows = await self.db.fetch_all(
            "SELECT subject_kind, subject_id FROM run_subjects WHERE run_id = ? ORDER BY subject_kind, subject_id",
            (run_id,))
        run["subjects"] = [[row["subject_kind"], row["subject_id"]] for row in rows]
        return run

    async def event_records(self, run_id: int) -> list[dict[str, Any]]:
        """A run's events in order, each as ``{seq, at, event}``."""
        rows = await self.db.fetch_all(
            "SELECT e.seq, e.at, e.kind, e.data, r.workflow FROM run_events e JOIN runs r ON r.id = e.run_id"
            " WHERE e.run_id = ? ORDER BY e.seq", (run_id,))
        return [{"seq": row["seq"], "at": row["at"], "event": _load_event(run_id, row)} for row in rows]

    async def events(self, run_id: int) -> list[Event]:
        """A run's events in order, as the typed events a live run emitted."""
        return [record["event"] for record in await self.event_records(run_id)]

    async def prune(self, retention_days: int) -> int:
        """Delete the events of runs started more than ``retention_days`` ago; returns how many.

        The runs rows (status, cost, summary) and their subjects stay; ``pruned_at`` marks them.
        Works in small transactions so live runs are never blocked for long.
        """
        cutoff = iso(self.clock.now() - timedelta(days=retention_days))
        deleted = 0
        while True:
            ids = [row["id"] for row in await self.db.fetch_all(
                "SELECT id FROM runs WHERE pruned_at IS NULL AND started_at < ? AND status != 'running'"
                " ORDER BY started_at LIMIT ?", (cutoff, PRUNE_BATCH_RUNS))]
            if not ids:
                return deleted
            marks = ",".join("?" * len(ids))
            async with self.db.write() as tx:
                deleted += await tx.execute(f"DELETE FROM run_events WHERE run_id IN ({marks})", ids)
                await tx.execute(f"UPDATE runs SET pruned_at = ? WHERE id IN ({marks})",
                                 (iso(self.clock.now()), *ids))

    async def last_runs(self) -> dict[str, dict[str, Any]]:
        """The newest run of each workflow (any status), by workflow name."""
        rows = await self.db.fetch_all(
            "WITH RECURSIVE w(name) AS ("
            " SELECT MIN(workflow) FROM runs"
            " UNION ALL SELECT (SELECT MIN(workflow) FROM runs WHERE workflow > w.name) FROM w"
            " WHERE w.name IS NOT NULL)"
            " SELECT r.* FROM w JOIN runs r ON r.id = (SELECT MAX(id) FROM runs WHERE workflow = w.name)")
        return {row["workflow"]: row for row in rows}

    async def today_totals(self, timezone: str | None = None) -> dict[str, Any]:
        """Runs, tokens, cost and runs marked for attention since local midnight (in ``timezone``, default UTC)."""
        zone = ZoneInfo(timezone or "UTC")
        local_today = self.clock.now().astimezone(zone).date()
        start = datetime.combine(local_today, time(0), tzinfo=zone)
        row = await self.db.fetch_one(
            "SELECT COUNT(*) AS runs, COALESCE(SUM(input_tokens), 0) AS input_tokens,"
            " COALESCE(SUM(output_tokens), 0) AS output_tokens,"
            " COALESCE(SUM(cache_read_tokens), 0) AS cache_read_tokens,"
            " COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens,"
            " COALESCE(SUM(cost_usd), 0.0) AS cost_usd, COUNT(attention) AS attention"
            " FROM runs WHERE started_at >= ? AND status NOT IN ('missed', 'skipped')", (iso(start),))
        assert row is not None
        # every token processed, cached or not: with caching most input is read from the cache
        row["tokens"] = (row["input_tokens"] + row["output_tokens"] + row["cache_read_tokens"]
                         + row["cache_write_tokens"])
        return row


def _load_event(run_id: int, row: dict[str, Any]) -> Event:
    from gymconsole.engine.events import EVENT_TYPES, Notice, event_from_dict

    data = json.loads(row["data"])
    data.update(kind=row["kind"], run_id=run_id, workflow=row["workflow"])
    if row["kind"] not in EVENT_TYPES:
        return Notice(run_id=run_id, workflow=row["workflow"], level="warning",
                      message=f"(an event of unknown kind {row['kind']!r})")
    return event_from_dict(data)


_PEOPLE = ("SELECT rs.run_id FROM run_subjects rs WHERE "
           "(rs.subject_kind = 'member' AND rs.subject_id IN (SELECT id FROM members "
           "WHERE first_name || ' ' || last_name LIKE ? ESCAPE '\\')) "
           "OR (rs.subject_kind = 'prospect' AND rs.subject_id IN (SELECT id FROM prospects "
           "WHERE first_name || ' ' || last_name LIKE ? ESCAPE '\\'))")


def _search_clause(search: str) -> tuple[str, list[Any]]:
    """Text in the summary, error or question asked, a member's or prospect's name, or (``42`` / ``#42``) their ID."""
    pattern = _like(search.strip())
    clause = (f"(r.summary LIKE ? ESCAPE '\\' OR r.error LIKE ? ESCAPE '\\' OR r.id IN ({_PEOPLE}) "
              "OR r.id IN (SELECT q.run_id FROM questions q WHERE q.question LIKE ? ESCAPE '\\')")
    values: list[Any] = [pattern, pattern, pattern, pattern, pattern]
    number = search.strip().lstrip("#")
    if number.isdigit() and len(number) < 19:
        clause += (" OR r.id IN (SELECT rs.run_id FROM run_subjects rs WHERE rs.subject_kind IN ('member', 'prospect') "
                   "AND rs.subject_id = ?)")
        values.append(int(number))
    return clause + ")", values
