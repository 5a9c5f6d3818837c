"""The history's table draws plain one-line cells itself: exactly what DataTable would draw, cell by cell."""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from gymconsole.tui.format import cell
from gymconsole.tui.widgets import page_table
from gymconsole.tui.widgets.page_table import PageTable

CELLS: list[Any] = [
    cell(12345), cell("succeeded", "bold green"), cell(""), cell(None), cell("a much longer summary " * 6),
    cell("名前は山田 太郎です、とても長い"), cell("O'Brien [/vip] [@click=app.quit]"), cell("emoji 🎉 here"),
    Text("ellipsis cut here please", overflow="ellipsis", no_wrap=True, end=""),
    Text("spans", spans=[]).append("red", style="red"),  # spans: DataTable draws it
    "plain string [b]markup[/b]",  # not Text: DataTable draws it
]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield PageTable(id="t", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(PageTable)
        for width, name in ((6, "id"), (None, "status"), (12, "narrow"), (1, "tiny")):
            table.add_column(name, width=width, key=name)
        for number, value in enumerate(CELLS):
            table.add_row(value, value, value, value, key=str(number))


def cells_of(lines: list[list[Segment]]) -> list[tuple[str, Any]]:
    """Each character cell with its style: the same picture whatever the segments' boundaries."""
    return [(char, segment.style) for line in lines for segment in line for char in segment.text]


async def test_fast_cells_are_drawn_exactly_as_datatable_draws_them(monkeypatch: Any) -> None:
    drawn_fast: list[str] = []
    real = page_table._one_line

    def counted(text: Text, *args: Any) -> list[Segment]:
        drawn_fast.append(text.plain)
        return real(text, *args)

    monkeypatch.setattr(page_table, "_one_line", counted)
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(PageTable)
        table.move_cursor(row=3)
        await pilot.pause()
        checked = 0
        for row in range(len(CELLS)):
            for column, spec in enumerate(table.ordered_columns):
                width = spec.get_render_width(table)
                for cursor in (False, True):
                    style = table._get_row_style(row, table.rich_style)
                    table._cell_render_cache.clear()
                    fast = table._render_cell(row, column, style, width, cursor=cursor)
                    table._cell_render_cache.clear()
                    slow = DataTable._render_cell(table, row, column, style, width, cursor=cursor)
                    assert cells_of(fast) == cells_of(slow), (CELLS[row], spec.label, width, cursor)
                    checked += 1
        assert checked == len(CELLS) * 4 * 2
        assert len(drawn_fast) >= (len(CELLS) - 2) * 4 * 2, "every plain one-line Text cell took the fast path"
        assert "plain string [b]markup[/b]" not in drawn_fast and "spansred" not in drawn_fast


class OneCellTables(App[None]):
    """One table per cell of CELLS: a column's width is that cell's."""

    def compose(self) -> ComposeResult:
        for number in range(len(CELLS)):
            yield PageTable(id=f"t{number}")

    def on_mount(self) -> None:
        for number, value in enumerate(CELLS):
            table = self.query_one(f"#t{number}", PageTable)
            table.add_column("c", key="c")
            table.add_row(value, key="r")


async def test_column_widths_are_measured_as_datatable_measures_them() -> None:
    from textual.render import measure

    app = OneCellTables()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.pause()
        for number, value in enumerate(CELLS):
            table = app.query_one(f"#t{number}", PageTable)
            shown = table._get_row_renderables(0).cells[0]
            expected = max(measure(app.console, table.columns["c"].label, 1), measure(app.console, shown, 1))
            assert table.columns["c"].content_width == expected, value
