"""The one way into the SQLite database.

Reads run on the shared connection; every write goes through
:meth:`Database.write`, which serialises writers in this process with a lock
and takes SQLite's write lock up front (``BEGIN IMMEDIATE``) so a
read-modify-write never fails half-way with "database is locked".  Rows leave
as plain dicts.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from gymconsole.db.schema import MIGRATIONS, SCHEMA_VERSION

Params = Sequence[Any] | dict[str, Any]
BUSY_TIMEOUT_MS = 10_000
BEGIN_ATTEMPTS = 4
"""A writer waits up to BEGIN_ATTEMPTS x BUSY_TIMEOUT_MS for another process's write lock."""


class DatabaseError(Exception):
    """A database problem phrased as one line for the user."""


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row)}


class Transaction:
    """The handle a writer gets inside :meth:`Database.write`."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns how many rows it changed."""
        cursor = await self._conn.execute(sql, params)
        rowcount = cursor.rowcount
        await cursor.close()
        return rowcount

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run an INSERT; returns the new row id, or None when nothing was inserted."""
        cursor = await self._conn.execute(sql, params)
        row_id = cursor.lastrowid if cursor.rowcount > 0 else None
        await cursor.close()
        return row_id

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    # Reads run start to finish in one worker-thread call: a statement left open across an await would hold a
    # read snapshot, and another coroutine's BEGIN IMMEDIATE on this shared connection would then fail at once
    # with "database is locked" (SQLITE_BUSY_SNAPSHOT) whenever another process had committed meanwhile.
    async def fetch_all(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> dict[str, Any] | None:
        rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else next(iter(row.values()))


class Database(Transaction):
    """An open gym database with its schema up to date."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        super().__init__(conn)
        self.path = path
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path, *, create: bool = False) -> Database:
        """Open (or with ``create``, create) a database and apply migrations."""
        db_path = Path(path)
        if str(path) != ":memory:" and not db_path.exists() and not create:
            raise DatabaseError(f"{db_path}: no database here (create one with `gymconsole init --demo`)")
        if create and str(path) != ":memory:" and not db_path.exists():
            from gymconsole.paths import private_file

            try:
                private_file(db_path)  # members' data: 0600 on POSIX; SQLite gives -wal and -shm the same mode
            except OSError as exc:
                raise DatabaseError(f"{db_path}: cannot create: {exc.strerror or exc}") from None
        try:
            # Probe first: a failed aiosqlite.connect leaves its worker thread finishing after the loop may be
            # gone, which printed a thread traceback under the one-line error.
            await asyncio.to_thread(lambda: sqlite3.connect(db_path).close())
            conn = await aiosqlite.connect(db_path, isolation_level=None)
        except sqlite3.Error as exc:
            raise DatabaseError(f"{db_path}: cannot open: {exc}") from None
        conn.row_factory = _dict_row
        database = cls(conn, db_path)
        try:
            await database._prepare()
        except sqlite3.DatabaseError as exc:
            await conn.close()
            raise DatabaseError(f"{db_path}: not a usable gymconsole database: {exc}") from None
        except BaseException:
            await conn.close()
            raise
        return database

    async def _prepare(self) -> None:
        await self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await self._conn.execute("PRAGMA journal_mode = WAL")
        await self._conn.execute("PRAGMA synchronous = FULL")
        await self._conn.execute("PRAGMA foreign_keys = ON")
        version = await self.fetch_value("PRAGMA user_version")
        if version > SCHEMA_VERSION:
            raise DatabaseError(f"{self.path}: schema version {version} is newer than this gymconsole ({SCHEMA_VERSION})")
        for number in range(version, SCHEMA_VERSION):
            async with self.write() as tx:
                for statement in _statements(MIGRATIONS[number]):
                    await tx.execute(statement)
                await tx.execute(f"PRAGMA user_version = {number + 1}")

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Transaction]:
        """One write transaction: serialised, immediate, committed or rolled back whole."""
        async with self._write_lock:
            await self._begin_patiently()
            try:
                yield Transaction(self._conn)
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            else:
                await self._conn.execute("COMMIT")

    async def _begin_patiently(self) -> None:
        """BEGIN IMMEDIATE, waiting out another process's long write (busy timeout, then a few more times).

        Nothing has happened yet when BEGIN fails, so trying again is safe; giving up would lose a
        run's final status or an approval to a slow writer elsewhere (a door controller call, a bulk load).
        """
        for attempt in range(BEGIN_ATTEMPTS):
            try:
                await self._begin()
                return
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == BEGIN_ATTEMPTS - 1:
                    raise

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE that a cancelled writer cannot leave open: the statement runs on aiosqlite's thread
        whatever happens to the awaiting task, so on cancellation wait for it and roll it back."""
        begin = asyncio.ensure_future(self._conn.execute("BEGIN IMMEDIATE"))
        try:
            await asyncio.shield(begin)
        except asyncio.CancelledError:
            await asyncio.shield(self._undo(begin))
            raise

    async def _undo(self, begin: asyncio.Future[Any]) -> None:
        try:
            await begin
        except sqlite3.Error:
            return  # the BEGIN itself failed: there is no transaction to roll back
        await self._conn.execute("ROLLBACK")

    async def meta(self, key: str) -> str | None:
        return await self.fetch_value("SELECT value FROM meta WHERE key = ?", (key,))

    async def close(self) -> None:
        await self._conn.close()


def _statements(script: str) -> list[str]:
    """Split a migration into statements (no semicolons inside our DDL strings)."""
    return [part.strip() for part in script.split(";") if part.strip() and not _only_comments(part)]


def _only_comments(part: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in part.splitlines())


@asynccontextmanager
async def open_database(path: str | Path, *, create: bool = False) -> AsyncIterator[Database]:
    """``async with open_database(path) as db``: always closed, on every path."""
    database = await Database.open(path, create=create)
    try:
        yield database
    finally:
        await database.close()
