"""The console left open under load: one notice for a long database wait, never a stack of them; short pauses."""

from __future__ import annotations

import asyncio
import gc
import re
import time

import pytest
from helpers_tui import no_cursor_blink, open_console, tui_config, wait_until
from test_faults import hold_write_lock

from gymconsole.tui import app as app_module
from gymconsole.tui import busy

__all__ = ["no_cursor_blink"]


def waiting_notes(app) -> list[str]:
    return [n.message for n in app._notifications if "waiting for the database" in n.message.lower()]


async def test_a_long_database_wait_is_one_notice_that_counts_up_then_clears(
        config, demo_path, clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(busy, "RENEW_SECONDS", 1.0)  # time compressed: renewed every second, not every five
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        app = pilot.app
        holder = hold_write_lock(demo_path)
        try:
            await pilot.press("P")  # pause every schedule: a write, which waits for the other process
            seen: list[str] = []
            deadline = time.monotonic() + 15  # on a loaded machine the first notice can come seconds late
            while time.monotonic() < deadline and len(seen) < 3:  # sampled while the writer waits: one notice
                notes = waiting_notes(app)
                assert len(notes) <= 1, notes
                if notes and notes[0] not in seen:
                    seen.append(notes[0])
                await asyncio.sleep(0.05)
        finally:
            assert holder.stdin is not None
            holder.stdin.write("\n")
            holder.stdin.close()
            holder.wait(timeout=10)
        counts = [int(re.search(r"\((\d+) s\)", note).group(1)) for note in seen]  # type: ignore[union-attr]
        assert len(counts) >= 2 and counts == sorted(counts), seen  # the one notice counted up
        await wait_until(pilot, lambda: any(n.message == "The database is free again." for n in app._notifications),
                         what="the all-clear")
        assert waiting_notes(app) == []
        await wait_until(pilot, lambda: app.state is not None and app.state.paused_all, what="the write, done")


async def test_the_start_up_heap_leaves_the_collectors_sight_once_up_and_comes_back_at_exit(
        config, demo_path, clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "FREEZE_AFTER_SECONDS", 0.05)
    assert gc.get_freeze_count() == 0
    async with open_console(tui_config(config), demo_path, clock) as pilot:
        await wait_until(pilot, lambda: gc.get_freeze_count() > 0, what="the freeze")
        frozen = gc.get_freeze_count()
        assert frozen > 20_000  # Textual, the engine, the dashboard: what a full collection no longer walks
        await pilot.press("h")  # the console goes on working as before
        await wait_until(pilot, lambda: pilot.app.screen.__class__.__name__ == "HistoryScreen", what="history")
    assert gc.get_freeze_count() == 0  # handed back at exit: the next console in this process starts clean
