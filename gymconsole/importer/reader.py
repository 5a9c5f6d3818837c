"""Reading an export as it comes: any encoding Excel or a web export writes, any usual delimiter, streamed.

:func:`open_export` looks at the bytes (a BOM, UTF-16 without one, valid
UTF-8, else Windows-1252), reads the header line to choose the delimiter
(``,`` ``;`` or tab; Excel's ``sep=;`` first line is honoured), and returns a
:class:`ExportFile` whose :meth:`ExportFile.rows` yields ``(line, cells)`` one
record at a time, ``line`` being where the record starts in the file (quoted
fields may span lines).  Blank records are skipped here; nothing is ever held
whole in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SNIFF_BYTES = 1 << 16
CHUNK = 1 << 20
DELIMITERS = (",", ";", "\t")
csv.field_size_limit(1 << 24)


class UnusableFile(Exception):
    """The file cannot be imported at all (unreadable, empty, no header); one line for the user."""


@dataclass
class ExportFile:
    """An export opened for reading: its encoding, delimiter and header cells."""

    path: Path
    encoding: str
    delimiter: str
    header: list[str]
    header_line: int
    skip_lines: int

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """``(line, cells)`` for every record after the header that has any non-blank cell."""
        with self._text() as text:
            for _ in range(self.skip_lines):
                text.readline()
            reader = csv.reader(text, delimiter=self.delimiter)
            next(reader, None)  # the header
            end = reader.line_num + self.skip_lines
            for cells in reader:
                line, end = end + 1, reader.line_num + self.skip_lines
                if any(cells) and "".join(cells).strip():
                    yield line, cells

    def _text(self) -> io.TextIOWrapper:
        try:
            return open(self.path, encoding=self.encoding, errors="strict" if self.encoding != "cp1252" else "replace",
                        newline="")
        except OSError as exc:
            raise UnusableFile(f"{self.path}: cannot read: {exc.strerror or exc}") from None


def open_export(path: Path) -> ExportFile:
    """Detect encoding and delimiter and read the header; raises UnusableFile with the reason."""
    encoding = detect_encoding(path)
    try:
        with open(path, encoding=encoding, errors="replace", newline="") as text:
            skip, delimiter, header, header_line = _header(text)
    except OSError as exc:
        raise UnusableFile(f"{path}: cannot read: {exc.strerror or exc}") from None
    return ExportFile(path, encoding, delimiter, header, header_line, skip)


def detect_encoding(path: Path) -> str:
    """utf-8-sig (BOM or plain UTF-8), utf-16 (BOM, or NULs in every other byte), else cp1252."""
    try:
        with open(path, "rb") as raw:
            head = raw.read(SNIFF_BYTES)
            if not head.strip(b"\r\n\t ,;\x00\xef\xbb\xbf\xff\xfe"):
                raise UnusableFile(f"{path}: the file is empty")
            if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                return "utf-16"
            if head.startswith(codecs.BOM_UTF8):
                return "utf-8-sig"
            sample = head[:4096]
            if sample.count(b"\x00") > len(sample) // 4:
                return "utf-16-le" if sample[1::2].count(b"\x00") > sample[::2].count(b"\x00") else "utf-16-be"
            if b"\x00" in head:
                raise UnusableFile(f"{path}: not a CSV file (binary data; save the spreadsheet as CSV first)")
            raw.seek(0)
            return "utf-8-sig" if _valid_utf8(raw) else "cp1252"
    except OSError as exc:
        raise UnusableFile(f"{path}: cannot read: {exc.strerror or exc}") from None


def _valid_utf8(raw: io.BufferedReader) -> bool:
    """One streamed pass of C-speed decoding: any invalid byte anywhere means it is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := raw.read(CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _header(text: io.TextIOBase) -> tuple[int, str, list[str], int]:
    """Lines to skip before the header, the delimiter, the header cells and the header's line number."""
    skip, line_number, delimiter = 0, 0, ""
    for line in text:
        line_number += 1
        stripped = line.strip().strip("\ufeff")
        if stripped.lower().startswith("sep=") and len(stripped) == 5:
            delimiter = stripped[4]
            skip = line_number
            continue
        if not stripped.strip(",;\t"):
            skip = line_number
            continue
        delimiter = delimiter or max(DELIMITERS, key=stripped.count)
        cells = next(csv.reader([stripped], delimiter=delimiter))
        header = [cell.strip().strip("\ufeff") for cell in cells]
        if len([cell for cell in header if cell]) < 2:
            raise UnusableFile(f"line {line_number}: no header row (expected column names separated by , ; or tab)")
        return skip, delimiter, header, line_number
    raise UnusableFile("the file is empty (no header row)")
