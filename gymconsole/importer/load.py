"""One import: a file streamed into a staging table, checked, then applied to the gym's table in one transaction.

The file is parsed row by row into a TEMP staging table (no lock on the gym's
database is held meanwhile, and memory stays flat however long the file is).
Then, under ``BEGIN IMMEDIATE`` and in set-based SQL: duplicate IDs and
references to unknown members become rejects; each row is matched to the
existing row with the same ``external_id``; what the console owns wins over
the export (an opt-out it recorded, a door state it set) and is listed as a
conflict; new rows are inserted, changed rows updated, and for full exports
(members, prospects) people no longer in the file are marked "not in the
latest export".  The import is recorded (per-table freshness, a history run)
in the same transaction, which a dry run rolls back.  A crash anywhere leaves
the database as it was, and readers never see a half-imported table.

This is synchronous ``sqlite3`` on its own connection: callers in the event
loop run it with ``asyncio.to_thread``.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from gymconsole.importer.reader import ExportFile, UnusableFile, open_export
from gymconsole.importer.rows import Layout, Mapping, RowParser, resolve_header, staged
from gymconsole.importer.tables import SPECS, TableSpec
from gymconsole.importer.values import DateOrder

REJECTS_SHOWN = 50
CONFLICTS_KEPT = 50
MISSING_SHOWN = 10
BUSY_TIMEOUT_S = 30.0
IMPORT_WORKFLOW = "import"
"""The ``runs.workflow`` of imports in the history."""


@dataclass
class ImportRequest:
    """What to import, from where, and how to read it."""

    table: str
    path: Path
    db_path: Path
    now: datetime
    today: date
    date_order: DateOrder = "mdy"
    mapping: Mapping = field(default_factory=Mapping)
    dry_run: bool = False
    partial: bool = False
    """The file is not the whole list: nobody is marked "not in the latest export"."""
    rejects_path: Path | None = None
    via: str = "cli"
    red_after_days: int = 30
    signature: str = ""


@dataclass
class ImportReport:
    """What an import did (or, dry, would do)."""

    table: str
    file: str
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    conflict_count: int = 0
    missing: int = 0
    missing_sample: list[str] = field(default_factory=list)
    returned: int = 0
    totals_rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    encoding: str = ""
    delimiter: str = ""
    dry_run: bool = False
    run_id: int | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.rejected else 0

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"table": self.table, "file": self.file, "rows": self.rows, "new": self.new,
                                "changed": self.changed, "unchanged": self.unchanged, "rejected": self.rejected,
                                "rejects": self.rejects[:REJECTS_SHOWN]}
        data.update(conflicts=self.conflicts, conflict_count=self.conflict_count, missing=self.missing,
                    missing_sample=self.missing_sample, returned=self.returned, totals_rows=self.totals_rows,
                    ignored_columns=self.ignored_columns, dry_run=self.dry_run)
        return data

    def summary(self) -> str:
        text = (f"{self.table}: {self.rows:,} rows, {self.new:,} new, {self.changed:,} changed, "
                f"{self.unchanged:,} unchanged, {self.rejected:,} rejected")
        if self.missing:
            text += f", {self.missing:,} not in the latest export"
        if self.returned:
            text += f", {self.returned:,} back in the export"
        if self.conflict_count:
            text += f", {self.conflict_count:,} kept as the console has them"
        return text


def run_import(request: ImportRequest) -> ImportReport:
    """Import one file; raises UnusableFile (nothing changed) when the file cannot be used at all."""
    spec = SPECS[request.table]
    export = open_export(request.path)
    layout = resolve_header(spec, export.header, request.mapping)
    parser = RowParser(spec, layout, request.mapping, request.date_order, request.today, request.red_after_days)
    report = ImportReport(request.table, str(request.path), ignored_columns=layout.ignored, encoding=export.encoding,
                          delimiter=export.delimiter, dry_run=request.dry_run)
    conn = sqlite3.connect(request.db_path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    try:
        _prepare(conn)
        load = _Load(conn, spec, parser, request, report)
        load.stage(export)
        conn.execute("BEGIN IMMEDIATE")
        try:
            load.apply(export, layout)
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK")
            raise UnusableFile(f"{request.path}: clashes with rows already in the database ({exc}); "
                               "nothing was imported") from None
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("ROLLBACK" if request.dry_run else "COMMIT")
    finally:
        conn.close()
    return report


def _prepare(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA cache_size = -65536")  # 64 MB whatever the file's size: bounded, not proportional
    conn.execute("PRAGMA temp_store = FILE")
    if not conn.execute("SELECT 1 FROM pragma_table_info('members') WHERE name = 'external_id'").fetchone():
        raise UnusableFile("the database is older than this gymconsole: open it once with gymconsole first")


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


class _Load:
    """The SQL side of one import (a TEMP table named ``stage``)."""

    def __init__(self, conn: sqlite3.Connection, spec: TableSpec, parser: RowParser, request: ImportRequest,
                 report: ImportReport) -> None:
        self.conn, self.spec, self.parser, self.request, self.report = conn, spec, parser, request, report
        self.table = spec.table
        self.now = request.now.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0).isoformat()
        stored = parser.stored
        self.values = [c.target for c in stored if c.kind != "ref"] + (["standing"] if parser.derive_standing else [])
        self.refs = [(c.target, c.refers, f"ref_{c.target}", c.name) for c in stored if c.kind == "ref"]
        if self.table == "door_credentials":
            self.refs.append(("member_id", "members", "ext", "member_id"))
        self.staged_names = [f"ref_{c.target}" if c.kind == "ref" else c.target for c in stored]
        self.staged_names += ["standing"] if parser.derive_standing else []
        info = conn.execute(f"SELECT name, \"notnull\" FROM pragma_table_info('{self.table}')").fetchall()
        self.not_null = {name for name, flag in info if flag}

    # --- staging: the file, parsed, with no lock on the gym's database ---------------------------------------

    def stage(self, export: ExportFile) -> None:
        resolved = [target for target, _, _, _ in self.refs]
        columns = ["line INTEGER", "ext TEXT", "bad TEXT", *(f'"{n}"' for n in self.staged_names),
                   "target_id INTEGER", "changed INTEGER NOT NULL DEFAULT 0", *(f'"{n}" INTEGER' for n in resolved
                                                                               if n not in self.staged_names)]
        self.conn.execute("DROP TABLE IF EXISTS temp.stage")
        self.conn.execute(f"CREATE TEMP TABLE stage ({', '.join(columns)})")
        names = ["line", "ext", "bad", *self.staged_names]
        insert = f"INSERT INTO stage ({', '.join(chr(34) + n + chr(34) for n in names)}) VALUES ({', '.join('?' * len(names))})"
        counts = {"rows": 0, "totals": 0}
        self.conn.execute("BEGIN")
        try:
            self.conn.executemany(insert, staged(self.parser, export.rows(), counts))
        except UnicodeDecodeError as exc:
            self.conn.execute("ROLLBACK")
            raise UnusableFile(f"{export.path}: cannot be decoded as {export.encoding} ({exc.reason}); "
                               "save it again as CSV UTF-8") from None
        except csv.Error as exc:
            self.conn.execute("ROLLBACK")
            raise UnusableFile(f"{export.path}: not readable as CSV: {exc}") from None
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        self.report.rows, self.report.totals_rows = counts["rows"], counts["totals"]
        if not counts["rows"]:
            raise UnusableFile(f"{export.path}: the file is empty (a header but no rows)")
        self.conn.execute("CREATE INDEX temp.stage_ext ON stage (ext)")

    # --- under the write lock -------------------------------------------------------------------------------

    def apply(self, export: ExportFile, layout: Layout) -> None:
        self._duplicates()
        self._resolve_references()
        # A member has one door credential: it is matched by member, whatever ID it was stored under.
        match = "t.member_id = stage.member_id" if self.table == "door_credentials" else "t.external_id = stage.ext"
        self.conn.execute(f"UPDATE stage SET target_id = (SELECT id FROM {self.table} t WHERE {match}) "
                          "WHERE bad IS NULL")
        self._console_wins()
        self._changes()
        self._count()
        self._insert_new()
        self._update_changed()
        if self.spec.full_export and not self.request.partial:
            self._mark_missing()
        self._collect_rejects(export)
        if not self.request.dry_run:
            self._record()

    def _duplicates(self) -> None:
        key = self.spec.key.name
        self.conn.execute("CREATE TEMP TABLE dups AS SELECT ext, group_concat(line, ', ') AS lines FROM stage "
                          "WHERE bad IS NULL GROUP BY ext HAVING COUNT(*) > 1")
        self.conn.execute(f"UPDATE stage SET bad = '{key} ' || stage.ext || ' appears more than once (lines ' || "
                          "d.lines || '): none of them imported' FROM dups d WHERE d.ext = stage.ext AND bad IS NULL")
        self.conn.execute("DROP TABLE temp.dups")

    def _resolve_references(self) -> None:
        for target, refers, source, name in self.refs:
            what = refers[:-1]
            self.conn.execute(f'UPDATE stage SET "{target}" = (SELECT id FROM {refers} r WHERE r.external_id = '
                              f'stage."{source}") WHERE bad IS NULL AND "{source}" IS NOT NULL')
            hint = f"import {refers} first" if refers == "members" else f"not in the imported {refers}"
            self.conn.execute(f"UPDATE stage SET bad = '{name} ' || stage.\"{source}\" || ' is not a known {what} "
                              f"({hint})' WHERE bad IS NULL AND \"{source}\" IS NOT NULL AND \"{target}\" IS NULL")

    def _console_wins(self) -> None:
        """Opt-outs the console recorded and door states it set stay; each disagreement is listed."""
        if "opted_out" in self.values:
            self._conflict("t.opted_out = 1 AND s.opted_out = 0", "opted_out",
                           "the console recorded an opt-out (a STOP reply); the export says opted in: kept opted out",
                           "opted_out = 1")
        if self.table == "door_credentials" and "access_state" in self.values:
            newer = "AND c.changed_at >= IFNULL(s.changed_at, '')" if "changed_at" in self.values else ""
            self._conflict(
                "s.access_state != t.access_state AND EXISTS (SELECT 1 FROM door_changes c WHERE c.member_id = "
                "t.member_id AND c.id = (SELECT MAX(id) FROM door_changes WHERE member_id = t.member_id) AND "
                f"(CASE c.action WHEN 'suspend' THEN 'suspended' ELSE 'active' END) = t.access_state {newer})",
                "access_state", "the console set this door to ' || t.access_state || '; the export says ' || "
                "s.access_state || ': kept as the console set it",
                "access_state = (SELECT access_state FROM door_credentials WHERE id = stage.target_id)" +
                (", changed_at = (SELECT changed_at FROM door_credentials WHERE id = stage.target_id)"
                 if "changed_at" in self.values else ""))

    def _conflict(self, where: str, field_name: str, reason: str, keep: str) -> None:
        name = "t.first_name || ' ' || t.last_name" if self.table in ("members", "prospects") else "t.external_id"
        join = f"FROM stage s JOIN {self.table} t ON t.id = s.target_id WHERE s.bad IS NULL AND {where}"
        self.report.conflict_count += self.conn.execute(f"SELECT COUNT(*) {join}").fetchone()[0]
        for line, ext, who, why in self.conn.execute(
                f"SELECT s.line, s.ext, {name}, '{reason}' {join} ORDER BY s.rowid LIMIT {CONFLICTS_KEPT}"):
            if len(self.report.conflicts) < CONFLICTS_KEPT:
                self.report.conflicts.append({"line": line, "id": ext, "name": who, "field": field_name,
                                              "reason": why})
        self.conn.execute(f"UPDATE stage SET {keep} WHERE rowid IN (SELECT s.rowid {join})")

    def _new_value(self, column: str, alias: str = "s") -> str:
        """What a column becomes for an existing row: an empty cell keeps a required value as it is."""
        if column in self.not_null:
            return f'COALESCE({alias}."{column}", t."{column}")'
        return f'{alias}."{column}"'

    def _changes(self) -> None:
        columns = self.values + [target for target, *_ in self.refs if target != "member_id" or
                                 self.table != "door_credentials"]
        if not columns:
            return
        differs = " OR ".join(f't."{c}" IS NOT {self._new_value(c, "stage")}' for c in columns)
        self.conn.execute(f"UPDATE stage SET changed = 1 WHERE bad IS NULL AND target_id IS NOT NULL AND EXISTS "
                          f"(SELECT 1 FROM {self.table} t WHERE t.id = stage.target_id AND ({differs}))")

    def _count(self) -> None:
        row = self.conn.execute(
            "SELECT COUNT(*) FILTER (WHERE bad IS NOT NULL), COUNT(*) FILTER (WHERE bad IS NULL AND target_id IS NULL),"
            " COUNT(*) FILTER (WHERE bad IS NULL AND changed = 1),"
            " COUNT(*) FILTER (WHERE bad IS NULL AND target_id IS NOT NULL AND changed = 0) FROM stage").fetchone()
        self.report.rejected, self.report.new, self.report.changed, self.report.unchanged = row

    def _insert_new(self) -> None:
        defaults = dict(self.spec.defaults)
        if self.table == "door_credentials":
            defaults.setdefault("changed_at", self.now)
        columns, expressions = ["external_id"], ["s.ext"]
        for column in self.values:
            columns.append(column)
            default = defaults.pop(column, None)
            if column == "due_on":
                expressions.append('COALESCE(s.due_on, s.issued_on)')
            elif default is not None:
                expressions.append(f'COALESCE(s."{column}", {_literal(default)})')
            else:
                expressions.append(f's."{column}"')
        for target, *_ in self.refs:
            columns.append(target)
            expressions.append(f's."{target}"')
        if self.table == "invoices" and "due_on" not in self.values:
            columns.append("due_on")
            expressions.append("s.issued_on")
        for column, value in defaults.items():
            if column not in columns:
                columns.append(column)
                expressions.append(_literal(value))
        self.conn.execute(f"INSERT INTO {self.table} ({', '.join(columns)}) SELECT {', '.join(expressions)} "
                          "FROM stage s WHERE s.bad IS NULL AND s.target_id IS NULL ORDER BY s.rowid")

    def _update_changed(self) -> None:
        columns = self.values + [target for target, *_ in self.refs]
        if not self.report.changed:
            return
        sets = ", ".join(f'"{c}" = {self._new_value(c)}' for c in columns)
        if self.table == "door_credentials":
            sets += ", external_id = s.ext"
            if "changed_at" not in self.values:
                sets += f", changed_at = CASE WHEN t.access_state IS NOT s.access_state THEN '{self.now}' ELSE t.changed_at END"
        self.conn.execute(f"UPDATE {self.table} AS t SET {sets} FROM stage s WHERE t.id = s.target_id AND "
                          "s.changed = 1 AND s.bad IS NULL")

    def _mark_missing(self) -> None:
        gone = (f"SELECT first_name || ' ' || last_name || ' (' || external_id || ')' FROM {self.table} t WHERE "
                "t.external_id IS NOT NULL AND t.missing_since IS NULL AND NOT EXISTS (SELECT 1 FROM stage s WHERE "
                "s.ext = t.external_id)")
        self.report.missing_sample = [row[0] for row in self.conn.execute(f"{gone} LIMIT {MISSING_SHOWN}")]
        self.report.missing = self.conn.execute(
            f"UPDATE {self.table} AS t SET missing_since = ? WHERE t.external_id IS NOT NULL AND t.missing_since IS "
            "NULL AND NOT EXISTS (SELECT 1 FROM stage s WHERE s.ext = t.external_id)", [self.now]).rowcount
        self.report.returned = self.conn.execute(
            f"UPDATE {self.table} AS t SET missing_since = NULL WHERE t.missing_since IS NOT NULL AND EXISTS "
            "(SELECT 1 FROM stage s WHERE s.ext = t.external_id AND s.bad IS NULL)").rowcount

    def _collect_rejects(self, export: ExportFile) -> None:
        self.report.rejects = [{"line": line, "reason": reason} for line, reason in self.conn.execute(
            f"SELECT line, bad FROM stage WHERE bad IS NOT NULL ORDER BY rowid LIMIT {REJECTS_SHOWN}")]
        if self.request.rejects_path is not None and self.report.rejected:
            write_rejects(self.conn, export, self.request.rejects_path)

    def _record(self) -> None:
        r = self.report
        via = self.request.via
        cursor = self.conn.execute(
            "INSERT INTO runs (workflow, trigger, mode, dry_run, status, started_at, ended_at, summary, pid) "
            "VALUES (?, ?, 'offline', 0, 'succeeded', ?, ?, ?, ?)",
            [IMPORT_WORKFLOW, "schedule" if via == "watch" else "manual", self.now, self.now,
             f"Import of {Path(r.file).name}: {r.summary()}", os.getpid()])
        r.run_id = cursor.lastrowid
        events = [("run_started", {"mode": "offline", "trigger": via, "dry_run": False, "model": ""}),
                  ("notice", {"level": "warning" if r.rejected or r.conflict_count else "info",
                              "message": f"{r.file}: {r.summary()}"})]
        events += [("notice", {"level": "warning", "message": f"line {j['line']}: {j['reason']}"})
                   for j in r.rejects[:20]]
        events += [("notice", {"level": "warning", "message": f"line {c['line']}: {c['name']}: {c['reason']}"})
                   for c in r.conflicts[:20]]
        events.append(("run_finished", {"status": "succeeded", "summary": r.summary(), "error": None,
                                        "iterations": 0}))
        self.conn.executemany("INSERT INTO run_events (run_id, seq, at, kind, data) VALUES (?, ?, ?, ?, ?)",
                              [(r.run_id, seq, self.now, kind, json.dumps(data, ensure_ascii=False))
                               for seq, (kind, data) in enumerate(events, 1)])
        self.conn.execute(
            "INSERT INTO imports (table_name, file, signature, imported_at, via, rows, new, changed, unchanged, "
            "rejected, missing, conflicts, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [r.table, r.file, self.request.signature, self.now, via, r.rows, r.new, r.changed, r.unchanged,
             r.rejected, r.missing, r.conflict_count, r.run_id])


def write_rejects(conn: sqlite3.Connection, export: ExportFile, path: Path) -> None:
    """The rejected records as they were in the file, each with its line number and reason, ready to fix."""
    bad = conn.execute("SELECT line, bad FROM stage WHERE bad IS NOT NULL ORDER BY rowid")
    wanted = next(bad, None)
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "reason", *export.header])
        for line, cells in export.rows():
            if wanted is None:
                break
            if line == wanted[0]:
                writer.writerow([line, wanted[1], *cells])
                wanted = next(bad, None)
