"""The strip under the header: badges, scheduler state, approvals, today's totals."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from gymconsole.present.words import plural
from gymconsole.tui.format import badge, money, theme_style
from gymconsole.tui.state import ConsoleState


class ConsoleBar(Static):
    """``DEMO OFFLINE DRY RUN · scheduler running · 2 approvals pending · today 5 runs ...``."""

    def show(self, state: ConsoleState | None) -> None:
        app = self.app
        text = Text()  # wraps to a second line in a narrow window rather than cutting the totals off
        if state is None:
            text.append(" starting… ", theme_style(app, "foreground-muted"))
            self.update(text)
            return
        for label, variable, on in (("DEMO", "secondary", state.demo), ("OFFLINE", "warning", state.offline),
                                    ("DRY RUN", "accent", state.dry_run)):
            if on:
                text.append_text(badge(app, label, variable))
                text.append(" ")
        if not state.scheduler_running:
            text.append(" scheduler stopped", theme_style(app, "error", bold=True))
        elif state.paused_all:
            text.append(" scheduler PAUSED", theme_style(app, "warning", bold=True))
        else:
            text.append(" scheduler running", theme_style(app, "success"))
        attention = int(state.totals.get("attention") or 0)  # today's runs; early in the strip, which 80 columns cut
        if attention:
            text.append(f"  ·  {plural(attention, 'run')} need{'s' if attention == 1 else ''} attention",
                        theme_style(app, "warning", bold=True))
        waiting = state.pending + state.asking
        text.append("  ·  ")
        text.append(f"{plural(state.pending, 'pending approval')}",
                    theme_style(app, "warning", bold=True) if waiting else theme_style(app, "foreground-muted"))
        if state.asking:
            text.append(f" ({state.asking} asking now)", theme_style(app, "warning"))
        totals = state.totals
        text.append(f"  ·  today {plural(int(totals.get('runs') or 0), 'run')}")
        if totals.get("cost_usd") or not state.offline:
            text.append(f" · AI cost {money(totals.get('cost_usd'))}")
        if state.running:
            text.append(f"  ·  {len(state.running)} running", theme_style(app, "accent", bold=True))
        self.update(text)
