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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._row_styles: dict[tuple[Any, ...], Style] = {}
        """Zebra row styles by parity and pseudo-classes (DataTable works each out again for every row drawn)."""
        super().__init__(*args, **kwargs)  # (which clears the caches already)

    def _update_dimensions(self, new_rows: Any) -> None:
        """Column widths measured (on idle): forget cells drawn at the old widths.

        DataTable keys its drawn cells and lines by content, not width; a page drawn between adding its rows and
        measuring them kept its cut-short columns until the next change (seen as a flaky history snapshot).
        Rows of plain Text cells are measured here as Rich measures a Text (its longest line, in cells), without
        the console options and word split DataTable's general measure builds for every cell.
        """
        before = [column.content_width for column in self.columns.values()]
        general = []
        for row_key in new_rows:
            row, cells = self.rows.get(row_key), self._data.get(row_key)
            if row is None or cells is None or row.label is not None or row.auto_height or not all(
                    isinstance(value, Text) or value is None for value in cells.values()):
                general.append(row_key)  # or removed meanwhile: DataTable skips it
                continue
            for column_key, value in cells.items():
                column = self.columns.get(column_key)
                if column is not None and value is not None:
                    width = max((cell_len(line) for line in value.plain.splitlines()), default=0)
                    if width > column.content_width:
                        column.content_width = width
        super()._update_dimensions(general)  # and the table's size, from the widths
        if [column.content_width for column in self.columns.values()] != before:
            self._cell_render_cache.clear()
            self._row_render_cache.clear()
            self._line_cache.clear()
            self.refresh()

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        if row_index < max(0, self.fixed_rows) or not self.zebra_stripes:
            return super()._get_row_style(row_index, base_style)
        key = (row_index % 2, self._pseudo_class_state)
        style = self._row_styles.get(key)
        if style is None:
            style = self._row_styles[key] = super()._get_row_style(row_index, base_style)
        return style

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._row_styles.clear()

    def notify_style_update(self) -> None:
        self._row_styles.clear()
        super().notify_style_update()

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
