"""Saved questions: a question the manager liked, kept under a name, asked again with one key or command.

A saved question keeps the read-only queries (``query_gym``) its answer used,
so it can also run without Claude: offline it runs those queries again and
shows their tables, labelled offline.  With Claude it is asked again as a new
question through the assistant, subject to the same gate, rules and budgets.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from gymconsole.clock import Clock, iso
from gymconsole.db import Database
from gymconsole.engine.gate import current_user
from gymconsole.tools.query import QueryRefused, run_query

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_QUERIES = 5


def check_name(name: str) -> str:
    """A saved question's name: lower-case letters, digits, ``-`` and ``_`` (at most 40)."""
    if not NAME.match(name):
        raise ValueError(f"{name!r} is not a usable name: use lower-case letters, digits, - and _ (at most 40)")
    return name


class UnknownQuestion(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no saved question {name!r}; saved: {', '.join(known) or 'none'}")


class SavedQuestions:
    """The ``saved_questions`` table."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def save(self, name: str, question: str, queries: list[str] | None = None) -> None:
        check_name(name)
        async with self.db.write() as tx:
            await tx.execute(
                "INSERT INTO saved_questions (name, question, queries, created_at, created_by) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET question = excluded.question, queries = excluded.queries",
                [name, question.strip(), json.dumps(queries or []), iso(self.clock.now()), current_user()])

    async def conversation_runs(self, run_id: int) -> list[tuple[int, str]]:
        """(run, question) of the conversation up to question run ``run_id``, oldest first ([] if not a question)."""
        rows = await self.db.fetch_all(
            "SELECT q.run_id, q.question FROM questions q WHERE q.conversation_id = (SELECT conversation_id FROM "
            "questions WHERE run_id = ?) AND q.run_id <= ? ORDER BY q.run_id", [run_id, run_id])
        return [(row["run_id"], row["question"]) for row in rows]

    async def save_from_run(self, name: str, run_id: int, question: str) -> int:
        """Save what run ``run_id`` was asked: a follow-up keeps the questions before it ("which of them..." means
        nothing alone), and the queries the conversation's answers used.  Returns how many queries were kept."""
        asked = [text for _, text in await self.conversation_runs(run_id)] or [question]
        await self.save(name, " Then: ".join(asked))
        return await self.remember_queries(name, run_id)

    async def remember_queries(self, name: str, run_id: int) -> int:
        """Keep the queries that run ``run_id`` (and the questions it follows up) used successfully; how many."""
        runs = [run for run, _ in await self.conversation_runs(run_id)] or [run_id]
        queries: list[str] = []
        for run in runs:
            queries += [sql for sql in await self.queries_of_run(run) if sql not in queries]
        queries = queries[:MAX_QUERIES]
        if queries:
            async with self.db.write() as tx:
                await tx.execute("UPDATE saved_questions SET queries = ? WHERE name = ?", [json.dumps(queries), name])
        return len(queries)

    async def queries_of_run(self, run_id: int) -> list[str]:
        rows = await self.db.fetch_all(
            "SELECT kind, data FROM run_events WHERE run_id = ? AND kind IN ('tool_started', 'tool_finished') "
            "ORDER BY seq", [run_id])
        started: dict[str, str] = {}
        good: list[str] = []
        for row in rows:
            data = json.loads(row["data"])
            if data.get("name") != "query_gym":
                continue
            if row["kind"] == "tool_started" and isinstance(data.get("input"), dict):
                started[data.get("call_id", "")] = str(data["input"].get("sql", ""))
            elif row["kind"] == "tool_finished" and not data.get("is_error"):
                sql = started.get(data.get("call_id", ""))
                if sql and sql not in good:
                    good.append(sql)
        return good[:MAX_QUERIES]

    async def list(self) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all("SELECT name, question, queries, created_at, created_by FROM saved_questions "
                                       "ORDER BY name")
        for row in rows:
            row["queries"] = json.loads(row["queries"])
        return rows

    async def get(self, name: str) -> dict[str, Any]:
        for row in await self.list():
            if row["name"] == name:
                return row
        raise UnknownQuestion(name, [row["name"] for row in await self.list()])

    async def delete(self, name: str) -> None:
        await self.get(name)
        async with self.db.write() as tx:
            await tx.execute("DELETE FROM saved_questions WHERE name = ?", [name])

    async def run_offline(self, name: str) -> list[dict[str, Any]]:
        """Run the saved question's stored queries again (no Claude): one result (or error) per query."""
        saved = await self.get(name)
        results = []
        for sql in saved["queries"]:
            try:
                result = await asyncio.to_thread(run_query, self.db.path, sql)
                results.append({"sql": sql, **result})
            except QueryRefused as exc:
                results.append({"sql": sql, "error": str(exc)})
        return results


def workflow_name(name: str) -> str:
    """The workflow a scheduled saved question becomes: ``saved_<name>``."""
    return "saved_" + check_name(name).replace("-", "_")


def workflow_block(name: str, question: str, cron: str) -> str:
    """The ``config.toml`` table of a saved question run on a schedule: a workflow like any other.

    ``cron`` is five fields (minute hour day month day-of-week).  Raises ValueError (one line).
    """
    import json as _json

    from gymconsole.config import CronSchedule, error_line
    from gymconsole.engine.ask import ask_tools

    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"--cron takes five fields (minute hour day month day-of-week), e.g. '0 7 * * mon'; got {cron!r}")
    minute, hour, day, month, day_of_week = fields
    try:
        CronSchedule(minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week)
    except ValueError as exc:  # pydantic's ValidationError: its last line is only a link to its docs
        raise ValueError(f"--cron {cron!r}: {error_line(exc)}") from None
    task = (f"A saved question of the manager's ({name}), asked on a schedule:\n{question.strip()}\n\n"
            "Answer it from the tools; act only if the question asks for an action.")
    task = task.replace("{", "{{").replace("}", "}}")
    schedule = ", ".join(f"{key} = {_json.dumps(value)}" for key, value in
                         (("minute", minute), ("hour", hour), ("day", day), ("month", month),
                          ("day_of_week", day_of_week)))
    return (f"\n[workflows.{workflow_name(name)}]\n"
            f"title = {_json.dumps('Saved: ' + name)}\n"
            f"schedule = {{ {schedule} }}\n"
            f"tools = {_json.dumps(ask_tools())}\n"
            f"task = {_json.dumps(task, ensure_ascii=False)}\n")
