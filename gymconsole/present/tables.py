"""A table from the model's answer (a Markdown table) as a Rich table, for the CLI and the console alike; or as
aligned plain lines, for the places that show a run's lines (history, the live view, replay)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

    from gymconsole.engine.answer import TableBlock


def table_renderable(block: TableBlock) -> Table:
    """Every cell plain text: data from the model is never markup."""
    from rich.table import Table  # noqa: PLC0415 (loaded when an answer first holds a table)
    from rich.text import Text  # noqa: PLC0415

    table = Table(show_header=True, header_style="bold", pad_edge=False)
    for name in block.header:
        table.add_column(Text(name), overflow="fold")
    for row in block.rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def aligned_tables(text: str) -> str:
    """The text with each Markdown table drawn as aligned columns under a rule (plain text, nothing parsed)."""
    from gymconsole.engine.answer import TableBlock, split_answer  # noqa: PLC0415

    if "|" not in text:
        return text
    out = []
    for piece in split_answer(text):
        if not isinstance(piece, TableBlock):
            out.append(piece)
            continue
        rows = [piece.header, *piece.rows]
        widths = [max(len(row[i]) for row in rows) for i in range(len(piece.header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                 for row in rows]
        lines.insert(1, "  ".join("─" * width for width in widths))
        out.append("\n".join(lines) + "\n")
    return "".join(out)
