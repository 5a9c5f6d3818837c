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

from collections.abc import Sequence
from itertools import zip_longest
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import Column, Row, RowKey

SegmentLines = list[list[Segment]]


class PageTable(DataTable[Any]):
    """A DataTable whose plain one-line cells are drawn directly (same look, a fraction of the work)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._row_styles: dict[tuple[Any, ...], Style] = {}
        """Zebra row styles by parity and pseudo-classes (DataTable works each out again for every row drawn)."""
        self._meta_styles: LRUCache[tuple[int, int, bool], Style] = LRUCache(4096)
        self._frame_style: Style | None = None
        """The table's own style while one frame is drawn (see :meth:`render_lines`)."""
        super().__init__(*args, **kwargs)  # (which clears the caches already)

    def show_rows(self, rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Show these rows (key, cells) in place of those shown, the cursor on the first row, scrolled home.

        What ``clear()`` and an ``add_row`` for each row leave behind, in one step: ``add_row`` clamps the cursor
        (a reactive with its watchers) and wakes the table for every row, and the new rows were measured on idle,
        after a frame could have drawn them at the old widths.  Here the rows are measured at once, so the frame
        that shows them is the only one drawn.  The columns stay as they are.
        """
        column_keys = [column.key for column in self.ordered_columns]
        keys = [RowKey(key) for key, _ in rows]
        if len(set(keys)) != len(keys) or any(len(cells) > len(column_keys) for _, cells in rows):
            raise ValueError("show_rows: duplicate row keys, or more cells than columns")
        self._clear_caches()
        self._data.clear()
        self.rows.clear()
        self._row_locations = type(self._row_locations)({})
        self.hover_coordinate = self.cursor_coordinate = Coordinate(0, 0)  # as clear() does: no row to highlight yet
        self._row_locations = type(self._row_locations)({key: index for index, key in enumerate(keys)})
        for key, (_, cells) in zip(keys, rows):
            self._data[key] = dict(zip_longest(column_keys, cells))
            self.rows[key] = Row(key, 1)
        self._label_column = Column(self._label_column_key, Text(), auto_width=True)
        self._labelled_row_exists = False
        self._new_rows.clear()
        self._require_update_dimensions = False
        self._update_count += 1
        self._update_dimensions(keys)
        self.scroll_x = self.scroll_y = self.scroll_target_x = self.scroll_target_y = 0
        if keys and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()
        self.refresh()

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

    def render_lines(self, crop: Any) -> list[Any]:
        # DataTable asks for its own rich_style (a walk over every ancestor's styles) once per line drawn; it
        # cannot change while one frame's lines are drawn, so it is worked out once here.
        self._frame_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._frame_style = None

    def render_line(self, y: int) -> Any:
        if self._frame_style is None:
            return super().render_line(y)
        width, _ = self.size
        scroll_x, scroll_y = self.scroll_offset
        fixed_height = sum(self.get_row_height(self._row_locations.get_key(index)) for index in range(self.fixed_rows))
        if self.show_header:
            fixed_height += self.get_row_height(self._header_row_key)
        return self._render_line(y + scroll_y if y >= fixed_height else y, scroll_x, scroll_x + width,
                                 self._frame_style)

    def _render_line_in_row(self, row_key: Any, line_no: int, base_style: Style, cursor_location: Coordinate,
                            hover_location: Coordinate) -> tuple[SegmentLines, SegmentLines]:
        """A row of plain one-line cells drawn in one pass: what DataTable draws for it, without working out
        again for every cell what is the same across the row (its styles, the cursor, the columns)."""
        row, values = self.rows.get(row_key), self._data.get(row_key)
        row_index = self._row_locations.get(row_key) if row is not None else None
        if (row is None or values is None or row_index is None or line_no or row.height != 1
                or row.label is not None or self.fixed_columns or row_index < self.fixed_rows
                or self.cursor_type != "row" or (self._labelled_row_exists and self.show_row_labels)
                or not all(_plain(value) for value in values.values())):
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        cursor_type, show_cursor, show_hover = self.cursor_type, self.show_cursor, self._show_hover_cursor
        cache_key = (row_key, line_no, base_style, cursor_location, hover_location, cursor_type, show_cursor,
                     show_hover, self._update_count, self._pseudo_class_state)
        cached = self._row_render_cache.get(cache_key)
        if cached is not None:
            return cached
        row_style = self._get_row_style(row_index, base_style)
        highlight = self._should_highlight
        css_fg, css_bg = self.cursor_foreground_priority == "css", self.cursor_background_priority == "css"
        padding, get_style = self.cell_padding, self.app.console.get_style
        cells: SegmentLines = []
        table_width = self._row_label_column_width
        for column_index, column in enumerate(self.ordered_columns):
            width = column.get_render_width(self)
            table_width += width
            where = Coordinate(row_index, column_index)
            component_style, post_style = self._get_styles_to_render_cell(
                False, False, False, highlight(hover_location, where, cursor_type),
                highlight(cursor_location, where, cursor_type), show_cursor, show_hover, css_fg, css_bg)
            pre_style = row_style + self._meta(row_index, column_index) + component_style
            cells.append(_one_line(values.get(column.key), width, padding, pre_style, post_style, get_style))
        extend_style, _ = self._get_styles_to_render_cell(
            False, False, False, highlight(hover_location, Coordinate(row_index, 0), cursor_type),
            row_index == cursor_location.row, show_cursor, show_hover, False, False)
        extend_style = row_style + extend_style + self._meta(row_index, 0, out_of_bounds=True)
        cells.append([Segment(" " * max(0, self.size.width - table_width), extend_style)])
        pair: tuple[SegmentLines, SegmentLines] = ([], cells)
        self._row_render_cache[cache_key] = pair
        return pair

    def _meta(self, row_index: int, column_index: int, out_of_bounds: bool = False) -> Style:
        """The style that tells a click which cell it hit (the same for every page: kept, not built per cell)."""
        key = (row_index, column_index, out_of_bounds)
        style = self._meta_styles.get(key)
        if style is None:
            meta: dict[str, Any] = {"row": row_index, "column": column_index}
            if out_of_bounds:
                meta["out_of_bounds"] = True
            style = self._meta_styles[key] = Style.from_meta(meta)
        return style

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
        if not _plain(value):
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


def _plain(value: Any) -> bool:
    """A cell :func:`_one_line` draws exactly as DataTable would: one line of Text with one style."""
    return isinstance(value, Text) and not value.spans and value.justify in (None, "default", "left") and not any(
        c in value.plain for c in "\n\t\r")
