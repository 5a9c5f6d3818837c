"""From header and cells to the values a table stores: the mapping, and each row parsed or rejected."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache, partial
from datetime import date
from typing import Any

from gymconsole.importer.reader import UnusableFile
from gymconsole.importer.tables import Column, TableSpec
from gymconsole.importer.values import (BadValue, DateOrder, money_cents, parse_choice, parse_count, parse_date,
                                        parse_flag, parse_moment, word_key)

IGNORE = "ignore"
_TOTALS = re.compile(r"^\s*(grand\s+)?(sub)?totals?\b|^\s*(count|sum)\s*[:=]", re.IGNORECASE)
_TOTALS_START = frozenset("gstcGSTC")
CACHED_VALUES = 4096
"""Parsed dates and amounts remembered per import (a million invoices fall on a few thousand days): bounded."""
"""The letters a totals word starts with: an ID starting otherwise is no totals row, without a regex."""


@dataclass(frozen=True)
class Mapping:
    """How one system's export of one table is read (``[import.mappings.NAME.TABLE]``)."""

    columns: dict[str, str] = field(default_factory=dict)
    """CSV header -> field name (or "ignore")."""
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    """Field -> {word in the export: the schema's value}."""
    date_order: DateOrder | None = None


@dataclass
class Layout:
    """Where each field is in the file: field name -> cell index, and the headers nobody reads."""

    positions: dict[str, int]
    ignored: list[str]


def resolve_header(spec: TableSpec, header: list[str], mapping: Mapping) -> Layout:
    """Match the header cells to the table's fields; a missing required field makes the file unusable."""
    names = {column.name for column in spec.all_columns}
    explicit: dict[str, str] = {}
    for csv_header, name in mapping.columns.items():
        if name != IGNORE and name not in names:
            raise UnusableFile(f"the mapping names an unknown {spec.table} field {name!r} "
                               f"(fields: {', '.join(sorted(names))})")
        explicit[word_key(csv_header)] = name
    exact = {word_key(column.name): column.name for column in spec.all_columns}
    synonyms = {word_key(s): column.name for column in reversed(spec.all_columns) for s in column.synonyms}
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, cell in enumerate(header):
        key = word_key(cell)
        name = explicit.get(key) or exact.get(key) or synonyms.get(key)
        if name is None or name == IGNORE or name in positions:
            if cell:
                ignored.append(cell)
            continue
        positions[name] = index
    missing = [column.name for column in spec.all_columns if column.required and column.name not in positions]
    if missing:
        found = ", ".join(repr(cell) for cell in header if cell)[:200]
        raise UnusableFile(f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                           f"(the header has {found}; name them like `gymconsole import --template {spec.table}` "
                           "or map them in the config)")
    return Layout(positions, ignored)


class RowParser:
    """Turns one record's cells into ``(key, values)`` or raises BadValue with the reason."""

    def __init__(self, spec: TableSpec, layout: Layout, mapping: Mapping, date_order: DateOrder,
                 today: date, red_after_days: int) -> None:
        self.spec = spec
        self.key_index = layout.positions[spec.key.name]
        self.fields = [(column, layout.positions[column.name], self._parser(column, mapping, date_order))
                       for column in spec.columns if column.name in layout.positions]
        self.readers = [(index, _reader(column, parse)) for column, index, parse in self.fields]
        self.derive_standing = spec.table == "members" and "standing" not in layout.positions
        self.today = today
        self.red_after_days = red_after_days
        self.width = max(layout.positions.values()) + 1

    @property
    def stored(self) -> list[Column]:
        """The columns a parsed row carries, in order (a derived standing last)."""
        return [column for column, _, _ in self.fields]

    def is_totals(self, cells: list[str]) -> bool:
        """A trailing "Total" row of a report: no ID (or "Total" as the ID), and a cell that says total."""
        key = cells[self.key_index].strip() if self.key_index < len(cells) else ""
        if key and (key[0] not in _TOTALS_START or not _TOTALS.match(key)):
            return False
        return any(_TOTALS.match(cell) for cell in cells if cell)

    def parse(self, cells: list[str]) -> tuple[str, list[Any]]:
        if len(cells) < self.width:
            cells = cells + [""] * (self.width - len(cells))
        key = cells[self.key_index].strip()
        if not key:
            raise BadValue(f"{self.spec.key.name} is empty")
        try:  # a million rows: one comprehension, no per-field bookkeeping; a bad row is read again for its reason
            return key, [read(cells[index]) for index, read in self.readers]
        except BadValue:
            return key, self._values_or_reason(cells)

    def _values_or_reason(self, cells: list[str]) -> list[Any]:
        values: list[Any] = []
        append = values.append
        for column, index, parse in self.fields:
            text = cells[index].strip()
            if text:
                try:
                    append(parse(text))
                except BadValue as exc:
                    raise BadValue(f"{column.name}: {exc}") from None
            elif column.required:
                raise BadValue(f"{column.name} is empty")
            else:
                append(None)
        return values

    @staticmethod
    def _parser(column: Column, mapping: Mapping, date_order: DateOrder) -> Callable[[str], Any]:
        order = mapping.date_order or date_order
        if column.kind == "money":
            return lru_cache(CACHED_VALUES)(money_cents)
        if column.kind == "date":
            return lru_cache(CACHED_VALUES)(partial(parse_date, order=order))
        if column.kind == "moment":
            return lru_cache(CACHED_VALUES)(partial(parse_moment, order=order))
        if column.kind == "flag":
            return parse_flag
        if column.kind == "count":
            return parse_count
        if column.kind == "choice":
            allowed = set(column.choices.values())
            extra = {word_key(k): v for k, v in mapping.values.get(column.name, {}).items()}
            for word, value in extra.items():
                if value not in allowed:
                    raise UnusableFile(f"the mapping maps {column.name} {word!r} to {value!r}, "
                                       f"which is not one of: {', '.join(sorted(allowed))}")
            choices = {**column.choices, **extra}
            what = column.name.replace("_", " ")
            seen: dict[str, str] = {}  # exports repeat a handful of words a million times

            def choice(text: str) -> str:
                value = seen.get(text)
                if value is None:
                    value = seen[text] = parse_choice(text, choices, what)
                return value

            return choice
        return _text

    def standing(self, balance: int | None, past_due_since: str | None) -> str:
        """A standing for exports that carry none: green when nothing is owed, red once long past due."""
        if not balance or balance <= 0:
            return "green"
        if past_due_since and (self.today - date.fromisoformat(past_due_since)).days >= self.red_after_days:
            return "red"
        return "yellow"


def _text(text: str) -> str:
    return text


def _reader(column: Column, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """One cell (unstripped) to its stored value: an empty optional cell is None, an empty required one bad."""
    if column.required:
        def required(text: str) -> Any:
            text = text.strip()
            if not text:
                raise BadValue(f"{column.name} is empty")
            return parse(text)

        return required
    if parse is _text:
        return lambda text: text.strip() or None
    return lambda text: parse(stripped) if (stripped := text.strip()) else None


def staged(parser: RowParser, records: Iterable[tuple[int, list[str]]], counts: dict[str, int]
           ) -> Iterator[tuple[Any, ...]]:
    """Rows for the staging table: ``(line, key, bad, *values)``; totals rows are counted and left out."""
    blanks = (None,) * (len(parser.stored) + (1 if parser.derive_standing else 0))
    names = [column.name for column in parser.stored]
    balance_at = names.index("balance") if "balance" in names else None
    since_at = names.index("past_due_since") if "past_due_since" in names else None
    for line, cells in records:
        if parser.is_totals(cells):
            counts["totals"] += 1
            continue
        counts["rows"] += 1
        try:
            key, values = parser.parse(cells)
        except BadValue as exc:
            cell = cells[parser.key_index].strip() if parser.key_index < len(cells) else ""
            yield (line, cell or None, str(exc), *blanks)
            continue
        if parser.derive_standing:
            balance = values[balance_at] if balance_at is not None else None
            since = values[since_at] if since_at is not None else None
            values.append(parser.standing(balance, since) if balance_at is not None else None)
        yield (line, key, None, *values)
