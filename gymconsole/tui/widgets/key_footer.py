"""A Footer that rebuilds its keys only when the keys it would show change.

Textual's ``Footer`` recomposes (removes and mounts a widget per key, each then
styled) every time the screen's bindings are reported updated: on every screen
resume and focus change, twice per opening of a screen kept between visits.
Profiled on the history screen, that rebuild and the styling of the new keys were
the largest part of opening it.  The keys a footer shows depend only on the
active bindings' key, label and enabled state, so when those are the same the
keys on screen are already right and nothing is rebuilt.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """``Footer`` with the same look, rebuilt only when the keys shown differ."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._composed_for: tuple[Any, ...] | None = None
        """The keys the composed children show (None: not composed yet)."""

    def _keys_shown(self) -> tuple[Any, ...]:
        """What ``Footer.compose`` reads: every shown binding's key, label, group, enabled state and tooltip."""
        if not self._bindings_ready:
            return ()
        bindings = tuple(
            (binding.key, binding.action, binding.description, binding.key_display, id(binding.group), enabled,
             tooltip)
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show or binding.key == self.app.COMMAND_PALETTE_BINDING)
        return bindings, self.compact, self.show_command_palette, self.app.ENABLE_COMMAND_PALETTE

    def compose(self) -> Any:
        if not self._bindings_ready and self.is_attached:
            # Footer composes empty and fills in once its screen reports its bindings: a second mount and restyle
            # of every key before the dashboard's first frame.  Its screen's bindings are known already; when the
            # report comes and they are the same, nothing is rebuilt.
            self.set_reactive(Footer._bindings_ready, True)
        self._composed_for = self._keys_shown()
        return super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        """Rebuilt at once, on its own screen's queue: Footer waits for the current screen's next refresh, which for
        a screen built while hidden is the refresh that opens it."""
        self._bindings_ready = True
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self.call_later(self.recompose)

    async def recompose(self) -> None:
        if self.is_attached and self._composed_for is not None and self._keys_shown() == self._composed_for:
            return
        await super().recompose()
