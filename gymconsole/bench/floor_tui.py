"""The first-paint floor: a minimal Textual app painting a Static and a 6-row DataTable.

``make bench`` runs it in a pseudo-terminal beside the real console and
divides: the console's first paint is reported as a ratio to this.
It prints the same marker the dashboard's border shows, so both are timed
the same way (spawn to the first frame carrying the marker), then quits on
any key but ``n``, which changes its text: the key-to-frame latency of a
minimal app, shown beside the history screen's figures.  Given a config file, it loads it first, as the console does (a
reference line of the bench, not the floor).
"""

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

MARKER = "workflows (times in"


class FloorApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("gymconsole floor")
        table: DataTable[str] = DataTable()
        table.border_title = f"{MARKER} UTC)"
        yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.styles.border = ("round", "white")
        table.add_columns("workflow", "schedule", "next run", "state")
        for number in range(6):
            table.add_row(f"workflow {number}", "cron 0 6 * * *", "in 3 h", "scheduled")
        table.focus()

    def on_key(self, event: events.Key) -> None:
        if event.key == "n":  # the key-to-frame floor: one widget's text changes, as a page of history does
            self.query_one(Static).update("floor next page")
            return
        self.exit()


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1:  # the bench's reference: the floor after loading gymconsole's configuration, as the console does
        import os

        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # as gymconsole's CLI
        from gymconsole.config_cache import load_config_cached

        load_config_cached(sys.argv[1])  # the console's own load: from the cache once validated
    FloorApp().run()
