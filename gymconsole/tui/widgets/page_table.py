"""A DataTable for pages of one-line cells, drawn without Rich's general layout for each cell.

Profiled on the history screen (100,000 runs, a page of 50): drawing a new
page was almost all ``DataTable._render_cell``, which lays out every cell as
``Styled(Padding(Text))`` through ``console.render_lines`` (wrap, pad, crop,
split into lines), about 0.3 ms a cell and 300 cells a screen; measuring
every new cell for the column widths came next.  A page of plain one-line
cells (``Text`` with one style and no spans, as :func:`gymconsole.tui.format.cell`
makes them) needs none of that: the text cropped or padded to the column's
cells, between the padding, styled the way Rich would style it.  Anything else
(spans, several lines, a row taller than one line) is drawn by DataTable
itself, so the fast path only ever draws what it can draw the same.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

SegmentLines = list[list[Segment]]


class PageTable(DataTable[Any]):
    """A DataTable whose plain one-line cells are drawn directly (same look, a fraction of the work)."""

    def _update_dimensions(self, new_rows: Any) -> None:
        """Column widths measured (on idle): forget cells drawn at the old widths.

        DataTable keys its drawn cells and lines by content, not width; a page drawn between adding its rows and
        measuring them kept its cut-short columns until the next change (seen as a flaky history snapshot).
        """
        before = [column.content_width for column in self.columns.values()]
        super()._update_dimensions(new_rows)
        if [column.content_width for column in self.columns.values()] != before:
            self._cell_render_cache.clear()
            self._row_render_cache.clear()
            self._line_cache.clear()
            self.refresh()

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool = False,
                     hover: bool = False) -> SegmentLines:
        if row_index < 0 or column_index < 0:  # the header and row labels: few, and drawn once
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        row = self.rows.get(row_key) if row_key is not None else None
        if row is None or row.height != 1:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        column_key = self._column_locations.get_key(column_index)
        key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor, self._update_count,
               self._pseudo_class_state)
        cached = self._cell_render_cache.get(key)
        if cached is not None:
            return cached
        value = self._data.get(row_key, {}).get(column_key)
        if not isinstance(value, Text) or value.spans or value.justify not in (None, "default", "left") or any(
                c in value.plain for c in "\n\t\r"):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, fixed, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        lines = [_one_line(value, width, self.cell_padding, pre_style, post_style, self.app.console.get_style)]
        self._cell_render_cache[key] = lines
        return lines


def _one_line(text: Text, width: int, padding: int, pre_style: Style, post_style: Style, get_style: Any) -> list[Segment]:
    """What ``render_lines(Styled(Padding(text, (0, padding)), pre_style, post_style))`` gives for one line."""
    inner = max(0, width - 2 * padding)  # DataTable's columns are at least 2 * padding wide
    plain = text.plain
    if cell_len(plain) > inner:
        plain = set_cell_size(plain, inner - 1) + "…" if text.overflow == "ellipsis" else set_cell_size(plain, inner)
    fill = inner - cell_len(plain)
    blank = pre_style + post_style
    content = pre_style + get_style(text.style) + post_style if text.style else blank
    line = []
    if padding:
        line.append(Segment(" " * padding, blank))
    if plain:
        line.append(Segment(plain, content))
    if fill:
        line.append(Segment(" " * fill, blank))
    if padding:
        line.append(Segment(" " * padding, blank))
    return line
