"""A table from the model's answer (a Markdown table) as a Rich table, for the CLI and the console alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from rich.table import Table

    from gymconsole.engine.answer import TableBlock


def table_renderable(block: TableBlock) -> Table:
    """Every cell plain text: data from the model is never markup."""
    from rich.table import Table  # noqa: PLC0415 (loaded when an answer first holds a table)

    table = Table(show_header=True, header_style="bold", pad_edge=False)
    for name in block.header:
        table.add_column(Text(name), overflow="fold")
    for row in block.rows:
        table.add_row(*(Text(cell) for cell in row))
    return table
