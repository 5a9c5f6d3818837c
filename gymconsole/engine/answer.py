"""Streamed answers with their Markdown tables picked out, for the CLI and the console to show as tables.

:class:`TableSplitter` takes text deltas as they arrive and gives back pieces:
plain text at once (so narration still streams), and each Markdown table
(``| a | b |`` lines) whole, once its last line has come, as a header and rows.
Only data: rendering (Rich tables, with every cell as plain text, never
markup) is the front end's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


@dataclass
class TableBlock:
    """One Markdown table: its header cells and rows of cells."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)


Piece = str | TableBlock


def _cells(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|"):
        body = body[:-1]
    return [cell.strip() for cell in body.split("|")]


def parse_table(lines: list[str]) -> Piece:
    """Table lines as a :class:`TableBlock`; lines that are not a real table come back as text."""
    if len(lines) < 2 or not _SEPARATOR.match(lines[1]):
        return "".join(line + "\n" for line in lines)
    header = _cells(lines[0])
    rows = [_cells(line) for line in lines[2:]]
    width = len(header)
    return TableBlock(header, [(row + [""] * width)[:width] for row in rows])


class TableSplitter:
    """Feed text deltas; get plain text right away and tables whole."""

    def __init__(self) -> None:
        self._line = ""
        """The current line while we cannot yet tell whether it is a table line."""
        self._deciding = True
        self._in_table = False
        self._table: list[str] = []

    def feed(self, text: str) -> list[Piece]:
        out: list[Piece] = []
        for char in text:
            if self._in_table or self._deciding:
                if char == "\n":
                    self._end_line(out)
                    continue
                self._line += char
                if self._deciding and self._line.strip():
                    self._deciding = False
                    if self._line.lstrip().startswith("|"):
                        self._in_table = True
                    else:
                        self._close_table(out)
                        out.append(self._line)
                        self._line = ""
                continue
            out.append(char)
            if char == "\n":
                self._deciding = True
        return _merge(out)

    def _end_line(self, out: list[Piece]) -> None:
        if self._in_table:
            self._table.append(self._line)
            self._in_table = False
        else:  # a blank line
            self._close_table(out)
            out.append(self._line + "\n")
        self._line = ""
        self._deciding = True

    def _close_table(self, out: list[Piece]) -> None:
        if self._table:
            out.append(parse_table(self._table))
            self._table = []

    def finish(self) -> list[Piece]:
        """Whatever is held back: a table that ended the answer, a last partial line."""
        out: list[Piece] = []
        if self._in_table:
            self._table.append(self._line)
            self._line = ""
        self._close_table(out)
        if self._line:
            out.append(self._line)
        self._line, self._deciding, self._in_table = "", True, False
        return _merge(out)


def _merge(pieces: list[Piece]) -> list[Piece]:
    merged: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        elif piece != "":
            merged.append(piece)
    return merged


def split_answer(text: str) -> list[Piece]:
    """A whole answer as pieces (for a stored answer)."""
    splitter = TableSplitter()
    return _merge(splitter.feed(text) + splitter.finish())
