"""SVG snapshots of the assistant's screens at the office PC's 80x24: the prompt without Claude (it says so and
offers the saved questions) and the standing rules with what one approved."""

from __future__ import annotations

import asyncio
from typing import Any

from fakeclock import FakeClock
from helpers_tui import no_cursor_blink, wait_until
from test_tui_snapshots import DEMO_NOW, console, ready, snap_config
from textual.pilot import Pilot

from gymconsole.config import Config
from gymconsole.db import Database
from gymconsole.engine.rules import RuleBook
from gymconsole.engine.saved import SavedQuestions
from gymconsole.tools.act import plan_restore
from gymconsole.tools.registry import REGISTRY
from gymconsole.tools.base import ToolContext

__all__ = ["no_cursor_blink", "snap_config"]


def _prepare(config: Config) -> None:
    async def fill() -> None:
        db = await Database.open(config.database_path())
        clock = FakeClock(DEMO_NOW)
        try:
            await SavedQuestions(db, clock).save("top-debts", "who owes the most?",
                                                 ["SELECT id, balance FROM members ORDER BY balance DESC LIMIT 5"])
            book = RuleBook(db, config, clock)
            await book.add("restore_door_access", ["balance <= 0"], days=30, max_per_day=20, note="paid in full",
                           actor="dana")
            suspended = await db.fetch_all("SELECT d.member_id FROM door_credentials d JOIN members m ON "
                                           "m.id = d.member_id WHERE d.access_state = 'suspended' AND "
                                           "m.balance_cents <= 0 ORDER BY d.member_id LIMIT 2")
            ctx = ToolContext(db, config, clock, workflow="door_access", run_id=None)
            plan = await plan_restore(ctx, REGISTRY["restore_door_access"].parse_args({"member_ids": [row["member_id"] for row in suspended]}))
            assert await book.decide(ctx, plan) is not None
        finally:
            await db.close()

    asyncio.run(fill())


def test_ask_without_claude_80x24(snap_compare: Any, snap_config: Config) -> None:
    _prepare(snap_config)

    async def open_prompt(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: len(pilot.app.screen.query(".ask-answer")) == 1, what="the offline note")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(console(snap_config), terminal_size=(80, 24), run_before=open_prompt)


def test_standing_rules_80x24(snap_compare: Any, snap_config: Config) -> None:
    _prepare(snap_config)

    async def open_rules(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        pilot.app.action_open_rules()
        await wait_until(pilot, lambda: getattr(pilot.app.screen, "rules", None), what="the rules")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(console(snap_config), terminal_size=(80, 24), run_before=open_rules)
