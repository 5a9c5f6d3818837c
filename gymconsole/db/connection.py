"""The one way into the SQLite database.

Reads run on the shared connection; every write goes through
:meth:`Database.write`, which serialises writers in this process with a lock
and takes SQLite's write lock up front (``BEGIN IMMEDIATE``) so a
read-modify-write never fails half-way with "database is locked".  Rows leave
as plain dicts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from gymconsole.db.quick import QuickReads
from gymconsole.db.schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

Params = Sequence[Any] | dict[str, Any]
BUSY_TIMEOUT_MS = 1_000
"""SQLite's own wait for a lock, per attempt; between attempts the wait is reported (see :func:`configure_waiting`)."""
DEFAULT_BUSY_WAIT_SECONDS = 120.0

WaitReporter = Callable[[float | None], None]
"""Told, about once a second, how long a writer has waited for another process's write lock; None when it got it."""


@dataclass
class _Waiting:
    limit: float | None = DEFAULT_BUSY_WAIT_SECONDS
    reporter: WaitReporter | None = None


_WAITING = _Waiting()


def configure_waiting(limit_seconds: float | None, reporter: WaitReporter | None = None) -> None:
    """How long this process's writers wait for a busy database (None: for as long as it takes) and who shows it.

    Set once by the interface: the CLI prints "waiting for the database ..." on stderr, the console shows it
    on screen, the scheduler service waits without a bound and logs it.
    """
    _WAITING.limit = limit_seconds
    _WAITING.reporter = reporter


def wait_note(seconds: float) -> str:
    return f"waiting for the database: another gymconsole is writing ({seconds:.0f} s)"


class DatabaseError(Exception):
    """A database problem phrased as one line for the user."""


class DatabaseBusy(DatabaseError):
    """Another process kept the write lock longer than this process may wait: nothing was changed."""


class DatabaseFault(DatabaseError):
    """The disk or the OS refused (full disk, I/O error, read-only file): one line; what was not committed is not."""


_FAULTS = {sqlite3.SQLITE_FULL: "the disk is full", sqlite3.SQLITE_IOERR: "a disk error (I/O)",
           sqlite3.SQLITE_READONLY: "the database is read-only here", sqlite3.SQLITE_CANTOPEN: "cannot open it",
           sqlite3.SQLITE_CORRUPT: "the file is damaged", sqlite3.SQLITE_NOTADB: "the file is not a database",
           sqlite3.SQLITE_PERM: "permission denied"}


def fault(path: Path | str, exc: BaseException, *, undone: bool = False) -> DatabaseError:
    """A sqlite3 or OS error as one line naming the file and what the disk or OS said.

    ``undone``: it struck inside a write transaction, which was rolled back whole.
    """
    if isinstance(exc, DatabaseError):
        return exc
    if isinstance(exc, OSError):
        where = exc.filename or path
        text = f"{where}: {exc.strerror or type(exc).__name__}"
    else:
        code = getattr(exc, "sqlite_errorcode", None)
        what = _FAULTS.get(code & 0xFF if isinstance(code, int) else -1)
        detail = " ".join(str(exc).split())
        text = f"{path}: {what} ({detail})" if what and detail and detail not in what else f"{path}: {what or detail}"
    return DatabaseFault(text + ("; that change was not made (nothing half-written was kept)" if undone else ""))


def _disk_refused(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)


def _is_fault(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _FAULTS


def is_busy(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


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

    async def fetch_batch(self, queries: Sequence[tuple[str, Params]]) -> list[list[dict[str, Any]]]:
        """Several reads in one trip to the database thread, each run start to finish like :meth:`fetch_all`.

        Every aiosqlite call is a hop to its thread and back; a tool needing two queries pays for one.
        """
        def run() -> list[list[dict[str, Any]]]:
            raw = self._conn._conn  # the sqlite3 connection, used here on its own thread (aiosqlite runs us there)
            return [list(raw.execute(sql, params).fetchall()) for sql, params in queries]

        return await self._conn._execute(run)

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
        self.read_only = False
        """Opened read-only (the file or its folder cannot be written): reads work, a write is one line."""
        self._quick: QuickReads | None = None
        """Short batches of reads on the calling thread (:mod:`gymconsole.db.quick`); None for ``:memory:``."""

    def _quick_reads_from(self, target: str | Path, uri: bool) -> None:
        if str(target) != ":memory:":
            self._quick = QuickReads(target, uri=uri, row_factory=_dict_row)

    async def fetch_batch(self, queries: Sequence[tuple[str, Params]]) -> list[list[dict[str, Any]]]:
        """Several reads: on the calling thread when they are short (no trip at all), else one trip."""
        if self._quick is not None and (rows := self._quick.run(queries)) is not None:
            return rows
        return await super().fetch_batch(queries)

    async def set_trace_callback(self, callback: Callable[[str], None] | None) -> None:
        """Told every statement this database runs, on either of its connections."""
        await self._conn.set_trace_callback(callback)
        if self._quick is not None:
            self._quick.set_trace_callback(callback)

    @classmethod
    async def open(cls, path: str | Path, *, create: bool = False) -> Database:
        """Open (or with ``create``, create) a database and apply migrations."""
        db_path = Path(path)
        if str(path) != ":memory:" and not create and not _has_data(db_path):
            raise DatabaseError(f"{db_path}: no database here (create one with `gymconsole init --demo`)")
        if create and str(path) != ":memory:" and not db_path.exists():
            from gymconsole.paths import private_file

            try:
                private_file(db_path)  # members' data: 0600 on POSIX; SQLite gives -wal and -shm the same mode
            except OSError as exc:
                raise DatabaseError(f"{db_path}: cannot create: {exc.strerror or exc}") from None
        read_only = str(path) != ":memory:" and not create and not _writable(db_path)
        target: str | Path = db_path.resolve().as_uri() + "?mode=ro&immutable=1" if read_only else db_path
        try:
            # Probe first: a failed aiosqlite.connect leaves its worker thread finishing after the loop may be
            # gone, which printed a thread traceback under the one-line error.
            await asyncio.to_thread(lambda: sqlite3.connect(target, uri=read_only).close())
            conn = await aiosqlite.connect(target, isolation_level=None, uri=read_only)
        except sqlite3.Error as exc:
            raise DatabaseError(f"{db_path}: cannot open: {exc}") from None
        database = cls._over(conn, db_path, target, read_only)
        try:
            await database._prepare()
        except sqlite3.DatabaseError as exc:
            await conn.close()
            if not read_only and not create and _disk_refused(exc):  # a full disk: still readable, as it stands
                log.warning("%s: opened read-only: %s", db_path, fault(db_path, exc))
                return await cls._open_read_only(db_path)
            raise DatabaseError(f"{db_path}: not a usable gymconsole database: {exc}") from None
        except BaseException:
            await conn.close()
            raise
        return database

    @classmethod
    def _over(cls, conn: aiosqlite.Connection, db_path: Path, target: str | Path, read_only: bool) -> Database:
        """The database over a fresh connection: rows as dicts, and short reads on a connection of their own."""
        conn.row_factory = _dict_row
        database = cls(conn, db_path)
        database.read_only = read_only
        database._quick_reads_from(target, read_only)
        return database

    @classmethod
    async def _open_read_only(cls, db_path: Path) -> Database:
        target = db_path.resolve().as_uri() + "?mode=ro&immutable=1"
        conn = await aiosqlite.connect(target, isolation_level=None, uri=True)
        database = cls._over(conn, db_path, target, True)
        try:
            await database._prepare()
        except BaseException:
            await conn.close()
            raise
        return database

    async def _prepare(self) -> None:
        if self.read_only:  # a read-only file or folder: reading is all it can do, and nothing else may write it
            version = await self.fetch_value("PRAGMA user_version")
            if version != SCHEMA_VERSION:
                raise DatabaseFault(f"{self.path}: read-only, and its schema is version {version}, not "
                                    f"{SCHEMA_VERSION}: open it once where it can be written")
            return
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
        if self.read_only:
            raise DatabaseFault(f"{self.path}: the database can only be read here (a read-only file or folder, or "
                                "a full disk); this needs to change it")
        async with self._write_lock:
            await self._begin_patiently()
            try:
                yield Transaction(self._conn)
            except BaseException as exc:
                await self._rollback()
                if isinstance(exc, sqlite3.OperationalError) and _is_fault(exc):
                    raise fault(self.path, exc, undone=True) from None
                raise
            try:
                await self._conn.execute("COMMIT")
            except sqlite3.Error as exc:  # a full disk at COMMIT: the whole transaction is undone, and said so
                await self._rollback()
                raise fault(self.path, exc, undone=True) from None

    async def _rollback(self) -> None:
        try:
            await self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:  # SQLite may have rolled back by itself (a full disk): nothing is left open
            log.debug("rollback: %s", exc)

    async def _begin_patiently(self) -> None:
        """BEGIN IMMEDIATE, waiting out another process's long write, and saying so about once a second.

        Nothing has happened yet when BEGIN fails, so trying again is safe.  Past the configured bound
        (``database.busy_wait_seconds``) the writer gives up with :class:`DatabaseBusy`, one line.
        """
        started = time.monotonic()
        waited = 0.0
        try:
            while True:
                try:
                    await self._begin()
                    return
                except sqlite3.OperationalError as exc:
                    if not is_busy(exc):
                        raise fault(self.path, exc) from None
                waited = time.monotonic() - started
                if _WAITING.limit is not None and waited >= _WAITING.limit:
                    raise DatabaseBusy(f"the database is locked: another gymconsole was writing for {waited:.0f} s; "
                                       "nothing was changed: try again when it is done") from None
                if _WAITING.reporter is not None:
                    _WAITING.reporter(waited)
                else:
                    log.info(wait_note(waited))
        finally:
            if waited and _WAITING.reporter is not None:
                _WAITING.reporter(None)

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
        if self._quick is not None:
            self._quick.close()
        await self._conn.close()


def _writable(path: Path) -> bool:
    """Can this process write the database (and, for WAL, create its side files beside it)?"""
    if not os.access(path, os.W_OK):
        return False
    sidecar = Path(f"{path}-shm")
    return os.access(sidecar, os.W_OK) if sidecar.exists() else os.access(path.parent, os.W_OK)


def _has_data(path: Path) -> bool:
    """A file with something in it: a 0-byte file (an interrupted copy, a touch) is no database either."""
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


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
