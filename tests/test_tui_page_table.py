"""The history's table draws plain one-line cells itself: exactly what DataTable would draw, cell by cell."""

from __future__ import annotations

from typing import Any

import pytest

from rich.segment import Segment
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from gymconsole.tui.format import cell
from gymconsole.tui.widgets import page_table
from gymconsole.tui.widgets.page_table import FastPageTable

CELLS: list[Any] = [
    cell(12345), cell("succeeded", "bold green"), cell(""), cell(None), cell("a much longer summary " * 6),
    cell("名前は山田 太郎です、とても長い"), cell("O'Brien [/vip] [@click=app.quit]"), cell("emoji 🎉 here"),
    Text("ellipsis cut here please", overflow="ellipsis", no_wrap=True, end=""),
    Text("spans", spans=[]).append("red", style="red"),  # spans: DataTable draws it
    "plain string [b]markup[/b]",  # not Text: DataTable draws it
]


class TableApp(App[None]):
    """A FastPageTable and a DataTable with every kind of cell in columns of every kind of width (a tiny one too)."""

    def compose(self) -> ComposeResult:
        yield FastPageTable(id="page", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="data", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            for width, name in ((6, "id"), (None, "status"), (12, "narrow"), (1, "tiny")):
                table.add_column(name, width=width, key=name)
            for number, value in enumerate(CELLS):
                table.add_row(value, value, value, value, key=str(number))


def cells_of(lines: list[list[Segment]]) -> list[tuple[str, Any]]:
    """Each character cell with its style: the same picture whatever the segments' boundaries."""
    return [(char, segment.style) for line in lines for segment in line for char in segment.text]


@pytest.fixture
def fast_cells(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of every cell the fast path draws (DataTable draws the others): were the fast path lost, PageTable
    would still draw what DataTable draws, only slower, and only this count would tell."""
    drawn_fast: list[str] = []
    real = page_table._one_line

    def counted(plain: str, *args: Any) -> list[Segment]:
        drawn_fast.append(plain)
        return real(plain, *args)

    monkeypatch.setattr(page_table, "_one_line", counted)
    return drawn_fast


def drawn(table: DataTable[Any]) -> list[list[tuple[str, Any]]]:
    """Every line the table draws now (its border, header, rows and the space beside them), cell by cell."""
    table._clear_caches()
    return [cells_of([list(strip)]) for strip in table.render_lines(table.size.region)]


def drawn_fast(page: FastPageTable, fast_cells: list[str], at_least: int) -> list[list[tuple[str, Any]]]:
    """What the page table draws now, at least ``at_least`` of its cells drawn by the fast path."""
    before = len(fast_cells)
    lines = drawn(page)
    assert len(fast_cells) - before >= at_least, f"{len(fast_cells) - before} cells drawn fast"
    return lines


async def test_fast_cells_are_drawn_exactly_as_datatable_draws_them(fast_cells: list[str]) -> None:
    app = TableApp()
    async with app.run_test(size=(80, 50)) as pilot:
        await pilot.pause()
        page, data = app.query_one(FastPageTable), app.query_one("#data", DataTable)
        rows_drawn_fast = (len(CELLS) - 2) * 4  # the header's "tiny" does not fit its column: DataTable draws it
        for row in (0, 1, 4, 8, 9, 10):  # the cursor on rows of each kind, even and odd
            for table in (page, data):
                table.move_cursor(row=row)
            app.set_focus(None)
            await pilot.pause()
            assert drawn_fast(page, fast_cells, rows_drawn_fast) == drawn(data), CELLS[row]
            page.focus()
            await pilot.pause()
            focused = drawn_fast(page, fast_cells, rows_drawn_fast)
            data.focus()
            await pilot.pause()
            assert focused == drawn(data), CELLS[row]
        assert "plain string [b]markup[/b]" not in fast_cells and "spansred" not in fast_cells
        assert {text for text in fast_cells if text} >= {"12345", "名前は山田 太郎です、とても長い", "emoji 🎉 here"}


class OneCellTables(App[None]):
    """One table per cell of CELLS: a column's width is that cell's."""

    def compose(self) -> ComposeResult:
        for number in range(len(CELLS)):
            yield FastPageTable(id=f"t{number}")

    def on_mount(self) -> None:
        for number, value in enumerate(CELLS):
            table = self.query_one(f"#t{number}", FastPageTable)
            table.add_column("c", key="c")
            table.add_row(value, key="r")


async def test_column_widths_are_measured_as_datatable_measures_them() -> None:
    from textual.render import measure

    app = OneCellTables()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.pause()
        for number, value in enumerate(CELLS):
            table = app.query_one(f"#t{number}", FastPageTable)
            shown = table._get_row_renderables(0).cells[0]
            expected = max(measure(app.console, table.columns["c"].label, 1), measure(app.console, shown, 1))
            assert table.columns["c"].content_width == expected, value


class SideBySide(App[None]):
    """A FastPageTable and a DataTable with the same rows: what each draws, line for line."""

    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[tuple[str | None, Any]] = []

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        self.highlighted.append((message.data_table.id, message.row_key.value))

    def compose(self) -> ComposeResult:
        yield FastPageTable(id="page", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="data", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            for width, name in ((6, "id"), (None, "status"), (12, "narrow")):
                table.add_column(name, width=width, key=name)
            for number, value in enumerate(CELLS):
                table.add_row(value, value, cell(number), key=str(number))


ROWS_DRAWN_FAST = (len(CELLS) - 2 + 1) * 3
"""Cells SideBySide's page table draws by the fast path: every row's but the two with cells that are not plain, and
the header's."""


async def test_rows_are_drawn_exactly_as_datatable_draws_them(fast_cells: list[str]) -> None:
    app = SideBySide()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        page, data = app.query_one(FastPageTable), app.query_one("#data", DataTable)
        for row in (0, 3, 8):
            for table in (page, data):
                table.move_cursor(row=row)
            app.set_focus(None)
            await pilot.pause()
            assert drawn_fast(page, fast_cells, ROWS_DRAWN_FAST) == drawn(data), row
            page.focus()
            await pilot.pause()
            focused = drawn_fast(page, fast_cells, ROWS_DRAWN_FAST)
            data.focus()
            await pilot.pause()
            assert focused == drawn(data), row
        app.set_focus(None)
        for scroll_x in (1, 7, 8, 9, 10, 12, 40):  # cropped at the left edge, wide characters cut there too
            for table in (page, data):
                table.scroll_to(x=scroll_x, animate=False, immediate=True)
            await pilot.pause()
            assert page.scroll_x == data.scroll_x == scroll_x
            assert drawn_fast(page, fast_cells, ROWS_DRAWN_FAST) == drawn(data), scroll_x
        for row in (1, 4, 8, 10):  # the mouse over a row (the cursor on row 8)
            await pilot.hover(FastPageTable, offset=(3, 1 + row))  # under the header
            assert page.hover_coordinate.row == row and page._show_hover_cursor
            hovered = drawn_fast(page, fast_cells, ROWS_DRAWN_FAST)
            await pilot.hover("#data", offset=(3, 1 + row))
            assert data.hover_coordinate.row == row and data._show_hover_cursor
            assert hovered == drawn(data), row


async def test_show_rows_leaves_what_clear_and_add_row_leave(fast_cells: list[str]) -> None:
    app = SideBySide()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        page, data = app.query_one(FastPageTable), app.query_one("#data", DataTable)
        for table in (page, data):
            table.move_cursor(row=4)
        await pilot.pause()
        app.highlighted = []
        rows = [(f"new{n}", (cell("x" * n), cell(f"row {n} " * 40), cell(n))) for n in range(7)]
        page.show_rows(rows)
        data.clear()
        for key, cells in rows:
            data.add_row(*cells, key=key)
        assert page.columns["status"].content_width == len("row 6 " * 40), "measured at once, not on idle"
        await pilot.pause()
        assert [str(key.value) for key in page.rows] == [key for key, _ in rows]
        assert [page.get_row(key) for key, _ in rows] == [data.get_row(key) for key, _ in rows]
        assert page.cursor_coordinate == data.cursor_coordinate == (0, 0)
        assert (page.scroll_x, page.scroll_y) == (0, 0)
        assert [column.content_width for column in page.columns.values()] == [
            column.content_width for column in data.columns.values()]
        assert page.virtual_size == data.virtual_size
        assert sorted(app.highlighted) == [("data", "new0"), ("page", "new0")]
        app.set_focus(None)
        await pilot.pause()
        assert drawn_fast(page, fast_cells, (len(rows) + 1) * 3) == drawn(data)
        await pilot.click(FastPageTable, offset=(3, 1 + 2))  # under the header, the third row: its cells say which
        assert page.cursor_coordinate.row == 2
        page.show_rows(rows[:2])  # a shorter last page
        assert page.row_count == 2 and page.get_row_index("new1") == 1
        for narrower in ([(f"n{n}", (cell("y"), cell(f"short {n}"), cell(n))) for n in range(3)], []):
            page.show_rows(narrower)  # narrower cells: the columns stay as wide (as after clear()), then no rows
            data.clear()
            for key, cells in narrower:
                data.add_row(*cells, key=key)
            app.set_focus(None)
            await pilot.pause()
            assert [column.content_width for column in page.columns.values()] == [
                column.content_width for column in data.columns.values()]
            assert page.virtual_size == data.virtual_size and page.cursor_coordinate == data.cursor_coordinate
            await pilot.hover(FastPageTable, offset=(3, 1))  # each with the mouse over its first row, as clicked
            shown = drawn_fast(page, fast_cells, (len(narrower) + 1) * 3)
            await pilot.hover("#data", offset=(3, 1))
            assert shown == drawn(data), narrower
