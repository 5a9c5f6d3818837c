"""The history's table draws plain one-line cells itself: exactly what DataTable would draw, cell by cell."""

from __future__ import annotations

from typing import Any

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
    def compose(self) -> ComposeResult:
        yield FastPageTable(id="t", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(FastPageTable)
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

    def counted(plain: str, *args: Any) -> list[Segment]:
        drawn_fast.append(plain)
        return real(plain, *args)

    monkeypatch.setattr(page_table, "_one_line", counted)
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(FastPageTable)
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


def drawn(table: DataTable[Any]) -> list[list[tuple[str, Any]]]:
    """Every line the table draws now (its border, header, rows and the space beside them), cell by cell."""
    table._clear_caches()
    return [cells_of([list(strip)]) for strip in table.render_lines(table.size.region)]


async def test_rows_are_drawn_exactly_as_datatable_draws_them() -> None:
    app = SideBySide()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        page, data = app.query_one(FastPageTable), app.query_one("#data", DataTable)
        for row in (0, 3, 8):
            for table in (page, data):
                table.move_cursor(row=row)
            app.set_focus(None)
            await pilot.pause()
            assert drawn(page) == drawn(data), row
            page.focus()
            await pilot.pause()
            focused = drawn(page)
            data.focus()
            await pilot.pause()
            assert focused == drawn(data), row
        app.set_focus(None)
        for scroll_x in (1, 7, 8, 9, 10, 12, 40):  # cropped at the left edge, wide characters cut there too
            for table in (page, data):
                table.scroll_to(x=scroll_x, animate=False, immediate=True)
            await pilot.pause()
            assert page.scroll_x == data.scroll_x == scroll_x
            assert drawn(page) == drawn(data), scroll_x


async def test_show_rows_leaves_what_clear_and_add_row_leave() -> None:
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
        assert drawn(page) == drawn(data)
        await pilot.click(FastPageTable, offset=(3, 1 + 2))  # under the header, the third row: its cells say which
        assert page.cursor_coordinate.row == 2
        page.show_rows(rows[:2])  # a shorter last page
        assert page.row_count == 2 and page.get_row_index("new1") == 1
