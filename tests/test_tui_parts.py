"""The console's parts on their own: the event bridge, the wrapped narration, traces, the CLI entry."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers_tui import no_cursor_blink, open_console, tui_config
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from gymconsole.cli import main
from gymconsole.config import load_config
from gymconsole.engine.events import (
    EventBus,
    Notice,
    RateLimitWait,
    RunFinished,
    RunStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from gymconsole.tui.bridge import EngineEvent, EventBridge, TextChunk
from gymconsole.tui.screens.config_view import ConfigScreen
from gymconsole.tui.trace import RunTrace
from gymconsole.tui.widgets.run_view import NarrationLog

__all__ = ["no_cursor_blink"]
ROOT = Path(__file__).resolve().parent.parent


class Collector:
    """Stands where the app would: records what the bridge posts."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def post_message(self, message: Any) -> bool:
        self.messages.append(message)
        return True


async def test_bridge_batches_text_and_keeps_run_order() -> None:
    bus, target = EventBus(), Collector()
    bridge = EventBridge(target, flush_seconds=0.05)  # type: ignore[arg-type]
    bridge.attach(bus)
    for number in range(1000):
        await bus.emit(TextDelta(1, "door_access", text=f"{number} "))
    await bus.emit(ToolCallStarted(1, "door_access", call_id="a", name="get_member"))
    assert [type(m) for m in target.messages] == [TextChunk, EngineEvent]  # 1000 deltas, one message
    assert target.messages[0].text == "".join(f"{n} " for n in range(1000))
    await bus.emit(TextDelta(1, "door_access", text="later"))
    await bus.emit(TextDelta(2, "invoice_review", text="other run"))
    assert len(target.messages) == 2  # buffered until the timer
    await asyncio.sleep(0.1)
    assert {(m.run_id, m.text) for m in target.messages[2:]} == {(1, "later"), (2, "other run")}
    bridge.detach()
    await bus.emit(TextDelta(1, "door_access", text="after detach"))
    assert len(target.messages) == 4


def test_trace_folds_events_into_state() -> None:
    events = [
        RunStarted(5, "door_access", mode="claude", trigger="schedule", dry_run=True, model="m"),
        TextDelta(5, "door_access", text="Checking"),
        Notice(5, "door_access", level="warning", message="retrying after 529"),
        RateLimitWait(5, "door_access", seconds=4.0, reason="input tokens per minute"),
        ToolCallStarted(5, "door_access", call_id="t1", name="suspend_door_access", input={"member_ids": [1]},
                        risk="high"),
        ToolCallFinished(5, "door_access", call_id="t1", name="suspend_door_access", summary="denied", risk="high",
                         decision="denied", duration_ms=3.0),
        RunFinished(5, "door_access", status="failed", error="API down", iterations=2),
    ]
    trace = RunTrace.from_events(5, "door_access", events)
    assert (trace.mode, trace.trigger, trace.dry_run, trace.status, trace.iteration) == ("claude", "schedule", True,
                                                                                         "failed", 2)
    assert trace.calls["t1"].decision == "denied" and trace.calls["t1"].finished
    assert trace.rate_limit_waits == 1 and trace.rate_limit_seconds == 4.0
    text = "".join(trace.text)
    assert text.startswith("Checking\n⚠ retrying after 529\n⏸ waiting 4.0 s") and text.endswith("reason: API down\n")
    assert "■ failed · 2 steps" in text


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield NarrationLog()


async def test_narration_wraps_words_and_never_splits_one() -> None:
    words = [f"word{n}" * (1 + n % 4) for n in range(300)]
    text = " ".join(words) + "\n"
    async with LogApp().run_test(size=(50, 20)) as pilot:
        log = pilot.app.query_one(NarrationLog)
        await pilot.pause()
        for start in range(0, len(text), 7):  # chunks cut words anywhere, as a stream does
            log.add(text[start:start + 7])
        await pilot.pause()
        width = log.scrollable_content_region.width
        lines = [line for line in log.lines if line]
        assert max(len(line) for line in lines) <= width
        assert " ".join(lines).split() == words


async def test_config_view_shows_sources_and_rechecks_the_file(tmp_path: Path, demo_path, clock) -> None:
    path = tmp_path / "config.toml"
    shutil.copyfile(ROOT / "config.toml", path)
    config = load_config(path)
    async with open_console(tui_config(config), demo_path, clock, api_key="sk-ant-test-SECRET-value",
                            offline=True) as pilot:
        app = pilot.app
        await pilot.press("c")
        screen = app.screen
        assert isinstance(screen, ConfigScreen)
        table = screen.query_one("#config-table", DataTable)
        assert str(table.get_row("safety.approval_timeout_seconds")[2]) == "config.toml"
        assert str(table.get_row("history.retention_days")[1]) == "90"
        assert str(table.get_row("model.prices.claude-haiku-4.input")[1]) == "1.0"
        summary = str(screen.query_one("#config-summary").render())
        assert "API key     present" in summary and "gym.db" in summary
        assert "SECRET" not in app.export_screenshot()
        path.write_text(path.read_text().replace("retention_days = 90", "retention_days = -1"))
        await pilot.press("v")
        summary = str(screen.query_one("#config-summary").render())
        assert "history.retention_days" in summary and "greater than or equal to 1" in summary


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[safety]\npolicy = { high = 'sometimes' }\n")
    assert main(["--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gymconsole: ") and "safety.policy" in err


def test_missing_database_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(ROOT / "config.toml"), "--db", str(tmp_path / "none.db")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.db" in err and "Traceback" not in err


def test_no_terminal_is_one_line_and_exit_2(demo_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(ROOT / "config.toml"), "--db", str(demo_path)]) == 2
    assert re.fullmatch(r"gymconsole: the console needs a terminal.*\n", capsys.readouterr().err)
