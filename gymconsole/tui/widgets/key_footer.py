"""The keys of a screen's bindings, drawn on one line by one widget, with the look of Textual's compact ``Footer``.

Textual's ``Footer`` is a container with a ``FooterKey`` widget per key: on the
dashboard eleven widgets, each styled, laid out and drawn before the first frame
(about 140 M instructions of the console's start, callgrind, more than the rest of
the dashboard's widgets together), and on every change of the screen's bindings
they were removed and mounted again.  Here the keys are one line of text: the same
colours (Footer's own theme variables), the same order and spacing, the command
palette's key on the right, a key clicked (or, disabled, a bell) as Footer does,
and the line redrawn only when the keys it shows change.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget

PALETTE_EDGE = "▏"
"""Footer draws the palette's key with a ``vkey`` left border: this character."""


class ShownKey(NamedTuple):
    key: str
    display: str
    description: str
    enabled: bool
    tooltip: str


class KeyFooter(Widget, can_focus=False):
    """``r Run p Pause ... ▏^p palette``: the screen's shown bindings, clickable; redrawn when they change."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"key-footer--item", "key-footer--key", "key-footer--description", "key-footer--hover",
                         "key-footer--edge"}
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        .key-footer--item { background: $footer-item-background; }
        .key-footer--key { color: $footer-key-foreground; background: $footer-key-background; text-style: bold; }
        .key-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .key-footer--hover { color: $footer-key-foreground; background: $block-hover-background; }
        .key-footer--edge { color: $foreground 20%; }
    }
    """

    def __init__(self, *, compact: bool = True, id: str | None = None) -> None:  # noqa: A002 (Textual's name)
        super().__init__(id=id)
        self.keys: tuple[ShownKey, ...] = ()
        """The keys shown, left to right (the palette's last)."""
        self.palette: ShownKey | None = None
        self._spans: list[tuple[int, int, ShownKey]] = []
        self._hover: str | None = None

    def on_mount(self) -> None:
        self.keys, self.palette = self._keys_now()
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _keys_now(self) -> tuple[tuple[ShownKey, ...], ShownKey | None]:
        """The bindings Footer would show: each action once (its first key), in the screen's order."""
        app = self.app
        actions: dict[str, ShownKey] = {}
        palette = None
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            shown = ShownKey(binding.key, app.get_key_display(binding), binding.description, enabled, tooltip)
            if binding.show:
                actions.setdefault(binding.action, shown)
            if binding.key == app.COMMAND_PALETTE_BINDING and app.ENABLE_COMMAND_PALETTE:
                palette = shown._replace(tooltip=binding.tooltip or binding.description)
        return tuple(actions.values()), palette

    def _bindings_changed(self, screen: Screen[Any]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        keys, palette = self._keys_now()
        if (keys, palette) != (self.keys, self.palette):
            self.keys, self.palette = keys, palette
            self.refresh()

    def render(self) -> Text:
        width = self.size.width
        styles = {name: self.get_component_rich_style(f"key-footer--{name}")
                  for name in ("item", "key", "description", "hover", "edge")}
        line = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, ShownKey]] = []
        palette = self._item(self.palette, styles) if self.palette is not None else None
        room = width - (palette.cell_len + 2 if palette is not None else 0)  # the palette: its edge, a margin
        for shown in self.keys:
            start = line.cell_len
            if start >= room:
                break
            line.append_text(self._item(shown, styles))
            spans.append((start, min(line.cell_len, room), shown))
            line.append(" ")  # Footer's margin between keys
        line.truncate(max(room, 0), pad=True)
        if palette is not None and self.palette is not None:
            line.append(PALETTE_EDGE, styles["edge"])
            spans.append((line.cell_len, line.cell_len + palette.cell_len, self.palette))
            line.append_text(palette)
            line.append(" ")
        self._spans = spans
        return line

    def _item(self, shown: ShownKey, styles: dict[str, Style]) -> Text:
        """One key as FooterKey draws it compact: the key in bold, a space, its description."""
        text = Text.assemble((shown.display, styles["key"]), (f" {shown.description}" if shown.description else "",
                                                                styles["description"]))
        text.stylize_before(styles["hover"] if shown.key == self._hover else styles["item"])
        if not shown.enabled:
            text.stylize(Style(dim=True))
        return text

    def key_at(self, x: int) -> ShownKey | None:
        """The key drawn at column ``x``, if any."""
        return next((shown for start, end, shown in self._spans if start <= x < end), None)

    def column_of(self, key: str) -> int | None:
        """Where the key ``key`` starts on the line (None: not drawn)."""
        return next((start for start, _, shown in self._spans if shown.key == key), None)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        shown = self.key_at(event.x)
        if shown is None:
            return
        event.stop()
        if shown.enabled:
            self.app.simulate_key(shown.key)
        else:
            self.app.bell()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        shown = self.key_at(event.x)
        hover = shown.key if shown is not None else None
        if hover != self._hover:
            self._hover = hover
            self.tooltip = shown.tooltip or None if shown is not None else None
            self.refresh()

    def on_leave(self) -> None:
        if self._hover is not None:
            self._hover = None
            self.refresh()
