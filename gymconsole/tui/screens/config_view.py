"""The effective configuration: every value, where it came from, what it means.

Values come from walking the :class:`~gymconsole.config.Config` model; the
source of each is ``config.source_of(key)`` (the file, or ``default``) and
its meaning is the field's docstring.  ``v`` re-reads the file and shows
whether it is still valid (changes apply at the next start).  The API key
is only ever shown as present or absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from gymconsole.config import Config, ConfigError, load_config
from gymconsole.config_base import ConfigSection
from gymconsole.present.sanitize import visible
from gymconsole.config_docs import field_doc
from gymconsole.tui.format import cell, one_line, shown_path, theme_style
from gymconsole.tui.screens.dashboard import NAV_BINDINGS
from gymconsole.tui.screens import SCREENS_CSS

if TYPE_CHECKING:
    from gymconsole.tui.app import GymConsoleApp


def walk_config(model: ConfigSection, prefix: str = "") -> Iterator[tuple[str, Any, str]]:
    """``(dotted key, value, description)`` for every leaf value of a config model."""
    for name, field in type(model).model_fields.items():
        if field.exclude:
            continue
        value = getattr(model, name)
        key = f"{prefix}{field.alias or name}"
        if isinstance(value, ConfigSection):
            yield from walk_config(value, key + ".")
        elif isinstance(value, dict) and value and all(isinstance(v, ConfigSection) for v in value.values()):
            for child, child_value in value.items():
                yield from walk_config(child_value, f"{key}.{child}.")
        else:
            yield key, value, field_doc(type(model), name)


def show_value(value: Any) -> str:
    """A config value on one line (long texts such as tasks are cut; the detail pane shows them whole)."""
    if isinstance(value, str):
        return one_line(value, 70)
    if isinstance(value, list):
        return visible(", ".join(str(v) for v in value))
    if isinstance(value, dict):
        return visible(", ".join(f"{k}={v}" for k, v in value.items()))
    return visible(value)


MESSAGES_SHOWN = {
    "gym": ("reminder by email", "campaign by email"),
    "reminder": ("reminder by email", "reminder by text message"),
    "final_notice": ("final notice by email",),
    "notice_subject": ("reminder by email",),
    "campaign_footer": ("campaign by email", "campaign by text message"),
    "sms_stop": ("reminder by text message", "campaign by text message"),
}
"""Which example messages the detail pane shows for a `[gym]` or `[messages]` value."""


class ConfigScreen(Screen[None]):
    """The configuration the console runs with."""

    CSS_PATH = SCREENS_CSS

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("v", "revalidate", "Validate file"),
        *NAV_BINDINGS,
    ]

    app: GymConsoleApp

    def __init__(self) -> None:
        super().__init__()
        self.descriptions: dict[str, tuple[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static(id="config-summary")
        table: DataTable[Text] = DataTable(id="config-table", cursor_type="row", zebra_stripes=True)
        table.border_title = "effective configuration"
        yield table
        with VerticalScroll(id="config-detail-scroll") as scroll:
            scroll.border_title = "detail (tab, then ↑↓ to scroll)"
            yield Static(id="config-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        config: Config = self.app.config
        table = self.query_one("#config-table", DataTable)
        table.add_column("key", key="key")
        table.add_column("value", key="value")
        table.add_column("source", key="source")
        muted = theme_style(self.app, "foreground-muted")
        for key, value, description in walk_config(config):
            source = config.source_of(key)
            table.add_row(cell(key), cell(show_value(value)), cell(source, muted if source == "default" else ""),
                          key=key)
            self.descriptions[key] = (description, value)
        self._summary(None)
        table.focus()

    def _summary(self, problem: str | None) -> None:
        app, config = self.app, self.app.config
        text = Text(no_wrap=False)
        text.append("config file ", "bold")
        text.append(shown_path(config.source_path) if config.source_path else "(built-in defaults)")
        text.append("\ndatabase    ", "bold")
        text.append(shown_path(app.db_path))
        text.append("\nAPI key     ", "bold")
        present = app.api_key_present
        text.append("present" if present else "absent (offline playbooks)",
                    theme_style(app, "success" if present else "warning"))
        text.append("   mode ", "bold")
        text.append("offline" if app.offline_mode else "claude")
        text.append("   dry run ", "bold")
        text.append("on" if app.dry_run_mode else "off")
        text.append("\nvalidation  ", "bold")
        if problem is None:
            text.append("valid", theme_style(app, "success"))
        else:
            text.append(problem, theme_style(app, "error", bold=True))
        self.query_one("#config-summary", Static).update(text)

    @on(DataTable.RowHighlighted, "#config-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key is None or key not in self.descriptions:
            return
        description, value = self.descriptions[key]
        text = Text(no_wrap=False)
        text.append(key, "bold")
        text.append(f"  ({self.app.config.source_of(key)})\n", theme_style(self.app, "foreground-muted"))
        text.append((description or "") + "\n")
        if isinstance(value, str) and ("\n" in value.strip() or len(value) > 70):
            text.append(visible(value.strip(), multiline=True), theme_style(self.app, "accent"))
        for what, message in self._messages_shown_for(key):
            text.append(f"{what}, as sent to an example member:\n", "bold")
            text.append(visible(message, multiline=True) + "\n", theme_style(self.app, "accent"))
        self.query_one("#config-detail", Static).update(text)

    def _messages_shown_for(self, key: str) -> list[tuple[str, str]]:
        """The messages a `[gym]` or `[messages]` value goes into, filled exactly as they are sent."""
        from gymconsole.tools.messages import examples

        if not key.startswith(("gym.", "messages.")):
            return []
        wanted = MESSAGES_SHOWN.get(key.partition(".")[2] if key.startswith("messages.") else "gym", ())
        return [(what, message) for what, message in examples(self.app.config) if what in wanted]

    def action_revalidate(self) -> None:
        path = self.app.config.source_path
        if path is None:
            self._summary(None)
            return
        try:
            load_config(path)
        except ConfigError as exc:
            self._summary(str(exc))
            self.notify(str(exc), severity="error", markup=False)
            return
        self._summary(None)
        self.notify("The file is valid. Changes apply the next time the console starts.", markup=False)
