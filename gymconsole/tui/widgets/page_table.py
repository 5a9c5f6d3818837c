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

Next page, profiled again (fifth session): DataTable still worked out, for every
cell of every line, what a frame shares (its own style, the columns and their
widths, the cursor's styles: reactives and style sums), and a page put in with
``clear()`` and ``add_row`` woke the table once a row and was measured on idle,
after a frame could draw it.  A row of plain cells is now drawn in one pass with
those read once a frame (:meth:`FastPageTable.render_lines`), and
:meth:`FastPageTable.show_rows` puts a page in at once, measured.

That drawing leans on DataTable's private members (its caches, row maps and
per-line methods), which any Textual release may change: it is used only with
the Textual it was checked against line for line (``CHECKED_TEXTUAL``, which
pyproject pins); with any other, :func:`page_table` gives a :class:`PageTable`,
a plain DataTable (``clear()`` and ``add_row``, DataTable's own drawing) and says
so in the log once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from importlib.metadata import version
from itertools import chain, zip_longest
from typing import Any, NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.coordinate import Coordinate
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import Row, RowKey

log = logging.getLogger(__name__)

CHECKED_TEXTUAL = "8.2.8"
"""The Textual whose DataTable :class:`FastPageTable` draws exactly as (tests/test_tui_page_table.py, side by side):
pyproject pins it; with any other version the table is a plain :class:`PageTable`."""
SegmentLines = list[list[Segment]]
STYLES_KEPT = 1024
"""Style entries kept between pages, per cache: a row's and its styled text's come in about eight variants (cursor,
hover, focus); measured with the cursor on each of 54 rows, focused and not, 218 and 216 of them took ~0.9 MB."""


class _Frame(NamedTuple):
    """What every line of one frame of the table shares, read once."""

    style: Style
    keys: list[Any]
    widths: list[int]
    labels: list[Any]
    padding: int
    width: int
    plain: bool
    """A row cursor, no fixed rows or columns, no row labels: rows of plain cells are drawn here."""
    show_cursor: bool
    show_hover: bool
    css_fg: bool
    css_bg: bool


def page_table(**options: Any) -> PageTable:
    """The history's table: drawn fast with the checked Textual, by DataTable itself with any other."""
    return FastPageTable(**options) if checked_textual() else PageTable(**options)


@functools.cache
def checked_textual() -> bool:
    """Whether the installed Textual is the one the fast drawing was checked against (read, and said, once)."""
    installed = version("textual")
    if installed != CHECKED_TEXTUAL:
        log.warning("Textual %s is installed, not %s: the history's table is drawn by DataTable itself (slower)",
                    installed, CHECKED_TEXTUAL)
    return installed == CHECKED_TEXTUAL


class PageTable(DataTable[Any]):
    """A DataTable that shows a page of rows at a time; drawn by DataTable itself (any Textual)."""

    def show_rows(self, rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Show these rows (key, cells) in place of those shown, the cursor on the first row, scrolled home."""
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)


class FastPageTable(PageTable):
    """A PageTable whose plain one-line cells are drawn directly (same look, a fraction of the work)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._row_styles: dict[tuple[Any, ...], Style] = {}
        """Zebra row styles by parity and pseudo-classes (DataTable works each out again for every row drawn)."""
        self._meta_styles: dict[tuple[int, int, bool], Style] = {}
        self._cell_style_cache: dict[tuple[Any, ...], tuple[list[Style], list[Style]]] = {}
        self._text_styles: dict[tuple[Any, ...], Style] = {}
        """Styles that are the same on every page (plain dicts, emptied when full: looked up once a cell)."""
        self._frame: _Frame | None = None
        """What the lines of the frame being drawn share (see :meth:`render_lines`)."""
        super().__init__(*args, **kwargs)  # (which clears the caches already)

    def show_rows(self, rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Show these rows (key, cells) in place of those shown, the cursor on the first row, scrolled home.

        What ``clear()`` and an ``add_row`` for each row leave behind, in one step: ``add_row`` clamps the cursor
        (a reactive with its watchers) and wakes the table for every row, and the new rows were measured on idle,
        after a frame could have drawn them at the old widths.  Here the rows are measured at once, so the frame
        that shows them is the only one drawn.  The columns stay as they are.
        """
        columns = self.ordered_columns
        column_keys = [column.key for column in columns]
        keys = [RowKey(key) for key, _ in rows]
        if len(set(keys)) != len(keys) or any(len(cells) > len(column_keys) for _, cells in rows):
            raise ValueError("show_rows: duplicate row keys, or more cells than columns")
        self.clear()  # the cursor on (0, 0) before there is a row to highlight, as clear() and add_row leave it
        for index, (key, (_, cells)) in enumerate(zip(keys, rows)):
            self._row_locations[key] = index
            self._data[key] = dict(zip_longest(column_keys, cells))
            self.rows[key] = Row(key, 1)
        self._require_update_dimensions = False  # measured below, not on idle
        self._update_count += 1
        widths, general = [column.content_width for column in columns], []
        for key, (_, cells) in zip(keys, rows):
            if all(value is None or isinstance(value, Text) for value in cells):
                widths = [max(width, _text_width(value.plain)) if value is not None else width
                          for width, value in zip_longest(widths, cells)]
            else:
                general.append(key)
        for column, width in zip(columns, widths):
            column.content_width = width
        self._update_dimensions(general)  # the other rows, and the table's size
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
                    width = _text_width(value.plain)
                    if width > column.content_width:
                        column.content_width = width
        super()._update_dimensions(general)  # and the table's size, from the widths
        if [column.content_width for column in self.columns.values()] != before:
            self._clear_caches()
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
        self._cell_style_cache.clear()  # (found by value: still right, but a new theme never meets them again)
        self._text_styles.clear()
        super().notify_style_update()

    def render_lines(self, crop: Any) -> list[Any]:
        # DataTable reads its own rich_style (a walk over every ancestor's styles), its columns and their widths
        # (reactives) again for every line and cell it draws; none of them can change while one frame is drawn.
        self._frame = self._frame_now(self.rich_style)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def _frame_now(self, style: Style) -> _Frame:
        columns = self.ordered_columns
        return _Frame(style, [column.key for column in columns], [column.get_render_width(self) for column in columns],
                      [column.label for column in columns], self.cell_padding, self.size.width,
                      self.cursor_type == "row" and not (self.fixed_columns or self.fixed_rows or (
                          self._labelled_row_exists and self.show_row_labels)),
                      self.show_cursor, self._show_hover_cursor, self.cursor_foreground_priority == "css",
                      self.cursor_background_priority == "css")

    def render_line(self, y: int) -> Any:
        frame = self._frame
        if frame is None or not frame.plain:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        header = self.header_height if self.show_header else 0
        return self._render_line(y + scroll_y if y >= header else y, scroll_x, scroll_x + frame.width, frame.style)

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """A line of a row drawn in one pass (below), cropped to the view as DataTable crops it, its length known."""
        frame = self._frame
        if frame is None or not frame.plain:
            return super()._render_line(y, x1, x2, base_style)
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return Strip.blank(frame.width, base_style)
        cursor, hover = self.cursor_coordinate, self.hover_coordinate
        cache_key = (y, x1, x2, frame.width, cursor, hover, base_style, "row", frame.show_hover, self._update_count,
                     self._pseudo_class_state)
        cached = self._line_cache.get(cache_key)
        if cached is not None:
            return cached
        _, cells = self._render_line_in_row(row_key, line_no, base_style, cursor, hover)
        total = max(frame.width, sum(frame.widths))  # each cell is its column's width, then the space beside
        strip = Strip(list(chain.from_iterable(cells)), total).crop(x1, x2).adjust_cell_length(frame.width, base_style)
        self._line_cache[cache_key] = strip
        return strip

    def _render_line_in_row(self, row_key: Any, line_no: int, base_style: Style, cursor_location: Coordinate,
                            hover_location: Coordinate) -> tuple[SegmentLines, SegmentLines]:
        """A row (or the header) of plain one-line cells drawn in one pass: what DataTable draws for it, without
        working out again for every cell what is the same across the row (its styles, the cursor, the columns)."""
        frame = self._frame
        values = self._plain_row(row_key, frame) if frame is not None and frame.plain and not line_no else None
        if frame is None or values is None:
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        cache_key = (row_key, line_no, base_style, cursor_location, hover_location, "row", frame.show_cursor,
                     frame.show_hover, self._update_count, self._pseudo_class_state)
        cached = self._row_render_cache.get(cache_key)
        if cached is not None:
            return cached
        row_index = -1 if row_key is self._header_row_key else self._row_locations.get(row_key)
        row_style = self._get_row_style(row_index, base_style)
        header, cursor, hover = row_index == -1, row_index == cursor_location.row, row_index == hover_location.row
        component_style, post_style = self._get_styles_to_render_cell(
            header, False, False, hover, cursor, frame.show_cursor, frame.show_hover, frame.css_fg, frame.css_bg)
        pre_styles, blanks = self._row_styles_of(row_index, len(values), row_style, component_style, post_style)
        cells: SegmentLines = []
        for width, value, pre_style, blank in zip(frame.widths, values, pre_styles, blanks):
            content = self._text_style(pre_style, value.style, post_style) if value.style else blank
            cells.append(_one_line(value.plain, value.overflow, width, frame.padding, blank, content))
        extend_style, _ = self._get_styles_to_render_cell(header, False, False, hover, cursor, frame.show_cursor,
                                                          frame.show_hover, False, False)
        extend_style = row_style + extend_style + self._meta(row_index, 0, out_of_bounds=True)
        cells.append([Segment(" " * max(0, frame.width - sum(frame.widths)), extend_style)])
        pair: tuple[SegmentLines, SegmentLines] = ([], cells)
        self._row_render_cache[cache_key] = pair
        return pair

    def _plain_row(self, row_key: Any, frame: _Frame) -> list[Text] | None:
        """The cells of a row (or the header's labels) that :func:`_one_line` draws as DataTable would, in column
        order; None when DataTable must draw the row (a taller row, a label, a cell that is not plain, a header
        label wider than its column: DataTable wraps those)."""
        if row_key is self._header_row_key:
            fits = self.header_height == 1 and all(
                _plain(label) and cell_len(label.plain) <= width - 2 * frame.padding
                for label, width in zip(frame.labels, frame.widths))
            return frame.labels if fits else None
        row, data = self.rows.get(row_key), self._data.get(row_key)
        if row is None or data is None or row.height != 1 or row.label is not None:
            return None
        cells = [data.get(key) for key in frame.keys]
        return cells if all(_plain(value) for value in cells) else None

    def _row_styles_of(self, row_index: int, columns: int, row_style: Style, component_style: Style,
                       post_style: Style) -> tuple[list[Style], list[Style]]:
        """Each cell's style before its text's, and its padding's, as DataTable composes them (kept: the same on
        every page; the styles in the key are the same objects from row to row, so it is found by identity)."""
        key = (row_index, columns, row_style, component_style, post_style)
        styles = self._cell_style_cache.get(key)
        if styles is None:
            pre_styles = [row_style + self._meta(row_index, column) + component_style for column in range(columns)]
            if len(self._cell_style_cache) >= STYLES_KEPT:
                self._cell_style_cache.clear()
            styles = self._cell_style_cache[key] = (pre_styles, [pre + post_style for pre in pre_styles])
        return styles

    def _text_style(self, pre_style: Style, text_style: str | Style, post_style: Style) -> Style:
        """A styled cell's text style, as DataTable composes it."""
        key = (pre_style, text_style, post_style)
        style = self._text_styles.get(key)
        if style is None:
            if len(self._text_styles) >= STYLES_KEPT:
                self._text_styles.clear()
            style = self._text_styles[key] = pre_style + self.app.console.get_style(text_style) + post_style
        return style

    def _meta(self, row_index: int, column_index: int, out_of_bounds: bool = False) -> Style:
        """The style that tells a click which cell it hit (the same for every page: kept, not built per cell)."""
        key = (row_index, column_index, out_of_bounds)
        style = self._meta_styles.get(key)
        if style is None:
            meta: dict[str, Any] = {"row": row_index, "column": column_index}
            if out_of_bounds:
                meta["out_of_bounds"] = True
            if len(self._meta_styles) >= STYLES_KEPT:
                self._meta_styles.clear()
            style = self._meta_styles[key] = Style.from_meta(meta)
        return style


def _one_line(plain: str, overflow: Any, width: int, padding: int, blank: Style, content: Style) -> list[Segment]:
    """What ``render_lines(Styled(Padding(text, (0, padding)), pre_style, post_style))`` gives for one line of
    plain text: ``blank`` styles the padding, ``content`` the text (the same style: one segment)."""
    inner = max(0, width - 2 * padding)  # DataTable's columns are at least 2 * padding wide
    length = cell_len(plain)
    if length > inner:
        plain = set_cell_size(plain, inner - 1) + "…" if overflow == "ellipsis" else set_cell_size(plain, inner)
        length = inner
    pad = " " * padding
    if content is blank:
        return [Segment(f"{pad}{plain}{' ' * (inner - length)}{pad}", blank)]
    line = [Segment(pad, blank)] if padding else []
    if plain:
        line.append(Segment(plain, content))
    if inner - length + padding:
        line.append(Segment(" " * (inner - length + padding), blank))
    return line


def _text_width(plain: str) -> int:
    """A Text's width as Rich measures it: its longest line, in cells."""
    return cell_len(plain) if plain.isprintable() else max((cell_len(line) for line in plain.splitlines()), default=0)


def _plain(value: Any) -> bool:
    """A cell :func:`_one_line` draws exactly as DataTable would: one line of Text with one style."""
    if not isinstance(value, Text) or value.spans or value.justify not in (None, "default", "left"):
        return False
    plain = value.plain
    return "\n" not in plain and "\t" not in plain and "\r" not in plain
