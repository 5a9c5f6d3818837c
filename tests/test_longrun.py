"""A console left open for weeks and a service running for months: what they keep is bounded.

The bounds are checked by structure (views kept, modals shown, tasks left), never by timing;
the memory figures of 500 runs are in ``make bench`` (gymconsole/bench/soak.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from helpers_tui import no_cursor_blink, open_console, tui_config, wait_until
from textual.widgets import Tab

from gymconsole.config import Config
from gymconsole.engine.events import ApprovalDecided, RunFinished, RunStarted, TextDelta
from gymconsole.engine.services import open_services
from gymconsole.tui.screens.approval import ApprovalModal
from gymconsole.tui.screens.live import LiveScreen, tab_id
from gymconsole.tui.screens.pending import PendingScreen
from gymconsole.tui.screens.replay import ReplayScreen
from gymconsole.tui.widgets.run_view import RunView

__all__ = ["no_cursor_blink"]

ASKING = ("door_access", "daily_escalation", "past_due_monitoring")
"""Offline playbooks that ask a person (door access twice)."""


def keeping(config: Config, live_runs: int) -> Config:
    return config.model_copy(update={"console": config.console.model_copy(update={"live_runs": live_runs})})


async def _a_run(services: Any, workflow: str, *, finish: bool = True, text: str = "") -> int:
    run_id = await services.recorder.start_run(workflow, "schedule", "offline", False)
    await services.bus.emit(RunStarted(run_id, workflow, mode="offline", trigger="schedule"))
    await services.bus.emit(TextDelta(run_id, workflow, text=text or f"run #{run_id}\n"))
    if finish:
        await services.bus.emit(RunFinished(run_id, workflow, status="succeeded", summary=f"run #{run_id}"))
    return run_id


def _tabs(app: Any) -> list[str]:
    return [tab.id for tab in app.screen.query(Tab)] if isinstance(app.screen, LiveScreen) else []


async def test_the_live_screen_keeps_only_the_newest_runs_and_older_ones_reopen_from_history(
        config, demo_path, clock) -> None:
    async with open_console(keeping(tui_config(config), 2), demo_path, clock) as pilot:
        app = pilot.app
        services = app.services
        still_running = await _a_run(services, "invoice_review", finish=False)
        done = [await _a_run(services, "door_access") for _ in range(5)]
        kept = [still_running, *done[-2:]]
        await wait_until(pilot, lambda: _tabs(app) == [tab_id(run_id) for run_id in kept],
                         what="the tabs of the running run and the newest two", timeout=90)
        assert list(app.traces) == kept
        assert len(app.screen.query(RunView)) == 1  # only the run on show is drawn
        # A decision on a forgotten run's pending request (made later) wakes no ghost view.
        await services.bus.emit(ApprovalDecided(done[0], "door_access", approval_id=1, tool="suspend_door_access",
                                                status="approved", via="tui"))
        await pilot.pause()
        assert list(app.traces) == kept and len(_tabs(app)) == 3
        # A forgotten run is one key away: its replay, from the history.
        app.action_open_live(done[0])
        await wait_until(pilot, lambda: isinstance(app.screen, ReplayScreen), what="the replay", timeout=90)
        assert app.screen.run_id == done[0]
        # Reopening the live screen draws only what is kept.
        await pilot.press("escape", "escape")
        await pilot.press("l")
        await wait_until(pilot, lambda: len(_tabs(app)) == 3, what="the live screen again", timeout=90)


async def test_approvals_while_nobody_is_at_the_desk_wait_in_pending_under_one_notice(
        config, demo_path, clock, monkeypatch) -> None:
    async with open_console(tui_config(config, approval_timeout_seconds=0.3), demo_path, clock) as pilot:
        app = pilot.app
        shown: list[ApprovalModal] = []
        push = app.push_screen

        def counting_push(screen: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(screen, ApprovalModal):
                shown.append(screen)
            return push(screen, *args, **kwargs)

        monkeypatch.setattr(app, "push_screen", counting_push)
        runner = app.services.runner
        results = await asyncio.gather(*(runner.run(name, trigger="schedule") for name in ASKING))  # nobody there
        assert {result.status for result in results} == {"awaiting_approval"}
        pending = await app.services.db.fetch_value("SELECT COUNT(*) FROM approvals WHERE status = 'pending'")
        assert pending > len(ASKING)  # door access asks twice
        assert len(shown) == 1  # the first question only; the rest went straight to the pending list
        await wait_until(pilot, lambda: not any(isinstance(s, ApprovalModal) for s in app.screen_stack),
                         what="no modal left", timeout=90)
        await wait_until(pilot, lambda: app.asker.notice in app._notifications, what="the notice", timeout=90)
        notices = [n for n in app._notifications if "Pending approvals" in n.message]
        assert [n.message.split(" approvals")[0] for n in notices] == [str(pending)]
        # Someone comes back: the next question is asked on screen again.
        await pilot.press("escape")
        assert not app.asker.away
        run = asyncio.ensure_future(runner.run("daily_escalation", trigger="schedule"))
        await wait_until(pilot, lambda: len(shown) == 2, what="a modal again", timeout=90)
        assert (await run).status == "awaiting_approval"  # unanswered again: away again
        assert app.asker.away
        # Nothing of those runs is left behind.
        await wait_until(pilot, lambda: app.asker.waiting == 0 and app.asker.current is None, what="the asker idle", timeout=90)
        assert runner.running() == {}
        assert not app.services.recorder._runs
        assert not app.bridge._pending
        assert not [w for w in app.workers if not w.is_finished and (w.name or "").startswith("run ")]


async def test_the_headless_service_keeps_nothing_per_run(config: Config, demo_path: Path, clock) -> None:
    """What the scheduler service holds after many runs and a late decision: nothing of them."""
    async with open_services(config, clock=clock, offline=True, api_key="") as services:
        subscribers = len(services.bus._subscribers)
        for _ in range(2):
            await asyncio.gather(*(services.scheduler.run_now(name) for name in config.workflows))
        pending = await services.gate.pending()
        assert pending
        await services.gate.decide_pending(pending[0]["id"], False, actor="tester", via="cli", reason="no")
        await services.delivery.idle()
        assert services.runner.running() == {}
        assert not services.scheduler._tasks and not services.scheduler._skips.pending
        assert not services.recorder._runs and not services.recorder._flushes
        assert not services.delivery._tasks
        assert len(services.bus._subscribers) == subscribers  # no subscriber per run


async def test_runs_the_live_screen_let_go_of_are_freed_not_kept_by_textuals_caches(config, demo_path, clock) -> None:
    """Textual's query caches kept every removed tab and view (with its drawn lines): about 0.5 MB a run."""
    import gc

    from textual._styles_cache import StylesCache

    from gymconsole.tui import gc_pauses

    def alive() -> tuple[int, int, int]:
        gc_pauses.release()  # the start-up freeze (3 s in) may have caught a round's tabs out of get_objects()' sight
        gc.collect()
        objects = gc.get_objects()
        return (sum(isinstance(o, Tab) for o in objects), sum(isinstance(o, RunView) for o in objects),
                sum(isinstance(o, StylesCache) for o in objects))  # one per widget, with the lines it drew

    async with open_console(keeping(tui_config(config), 2), demo_path, clock, size=(80, 24)) as pilot:
        app = pilot.app
        first = await _a_run(app.services, "door_access")
        await wait_until(pilot, lambda: _tabs(app) == [tab_id(first)], what="the live screen")
        runs = [first]
        counts = []
        for round_ in range(2):
            for _ in range(8):
                runs.append(await _a_run(app.services, "door_access", text="a line of narration\n" * 40))
                await wait_until(pilot, lambda: _tabs(app) == [tab_id(run_id) for run_id in runs[-2:]],
                                 what="the newest two tabs", timeout=90)
            counts.append(alive())
        (tabs_before, views_before, drawn_before), (tabs_after, views_after, drawn_after) = counts
        assert tabs_after <= tabs_before <= 4, counts  # two kept, not one more for every run
        assert views_after <= views_before <= 3, counts
        assert drawn_after <= drawn_before + 10, counts  # not a view's worth (~20) more for every run


async def test_widgets_the_console_removed_are_freed_not_kept_by_the_nodes_they_watched(config, demo_path, clock) -> None:
    """Textual lists a watcher on the node it watches until the watched value changes, which the app's title and a
    footer's ``compact`` never do (Textualize/textual#6666): every live screen's header and every footer key the
    footers ever drew stayed alive, with their drawn lines (680 footer keys after 90 runs of the soak); and a table
    keeps up to 10,000 cells drawn before its latest change, which can never be shown again."""
    import gc

    from textual.geometry import Region
    from textual.widgets import DataTable, Header
    from textual.widgets._footer import FooterKey

    from gymconsole.tui import gc_pauses, memory
    from gymconsole.tui.screens.dashboard import DashboardScreen

    def removed_but_alive() -> int:
        # The console freezes its start-up heap a few seconds in (gc_pauses); a live screen of this quick test may be
        # in it, out of every collection, with what it holds.  What is asked here is what Textual's references keep.
        gc_pauses.release()
        gc.collect()
        return sum(isinstance(o, Header | FooterKey) and not o.is_attached for o in gc.get_objects())

    def stale_cells(app: Any) -> int:
        tables = [table for screen in app.screen_stack for table in screen.query(DataTable)]
        return sum(key[-2] != table._update_count for table in tables for key in table._cell_render_cache.keys())

    async with open_console(tui_config(config), demo_path, clock, size=(80, 24)) as pilot:
        app = pilot.app
        sweeps = [timer for timer in app._timers if timer.name == "memory sweep"]
        assert sweeps  # the console sweeps while it runs; paused here, or a slow machine sweeps before the count
        for timer in sweeps:
            timer.pause()
        for _ in range(4):  # a run ends (the dashboard's tables change); the manager looks at the pending list, and back
            await _a_run(app.services, "door_access")
            await wait_until(pilot, lambda: isinstance(app.screen, LiveScreen), what="the live screen")
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, DashboardScreen), what="the dashboard")
            await pilot.press("a")  # built on each visit (the live screen is built once and kept)
            await wait_until(pilot, lambda: isinstance(app.screen, PendingScreen), what="the pending approvals")
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, DashboardScreen), what="the dashboard")
        await pilot.pause()
        assert removed_but_alive() >= 4  # Textual 8.2 keeps them (one header per closed screen at least)
        assert stale_cells(app) > 0  # and the dashboard's tables the cells they drew before each change
        memory.sweep(app)
        assert removed_but_alive() == 0
        assert stale_cells(app) == 0
        assert Region.intersection.cache_info().currsize == 0  # nor the process its every region ever met
