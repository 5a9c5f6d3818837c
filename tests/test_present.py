"""One presenter: a run reads the same in `gymconsole run`, in `history show` and in the console's trace."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gymconsole.cli import main
from gymconsole.clock import SystemClock
from gymconsole.db import open_database
from gymconsole.engine.events import ApprovalDecided, Notice, RunFinished, ToolCallFinished, ToolCallStarted
from gymconsole.engine.history import HistoryStore
from gymconsole.present.run_events import RunPresenter
from gymconsole.present.words import money, plural, schedule_words, status_words, tool_words
from gymconsole.tui.trace import RunTrace

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "config.toml")
MARKS = ("▶ ", "→ ", "✓ ", "✗ ", "? ", "§ ", "■ ", "summary: ")


async def _events(db_path: Path, run_id: int) -> list:
    async with open_database(db_path) as db:
        return await HistoryStore(db, SystemClock()).events(run_id)


def test_the_same_run_reads_the_same_live_in_history_and_in_the_console(
        demo_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    args = ["--config", CONFIG, "--db", str(demo_path)]
    main(["run", "door_access", "--offline", "--approve", "yes", *args])
    live = [line.strip() for line in capsys.readouterr().out.splitlines() if line.strip().startswith(MARKS)]
    assert main(["history", "show", "1", *args]) == 0
    shown = capsys.readouterr().out
    assert len(live) >= 8 and any(line.startswith("§ ") for line in live)
    for line in live:
        assert line in shown, f"live says {line!r}; history show does not"
    trace = RunTrace.from_events(1, "door_access", asyncio.run(_events(demo_path, 1)), title="Door access")
    narration = "".join(trace.text)
    for line in live:
        if line.startswith(("? ", "§ ", "■ ", "summary: ")):
            assert line in narration, f"live says {line!r}; the console does not"


def test_words() -> None:
    assert status_words("budget_exhausted") == "stopped: budget reached"
    assert tool_words("notify_past_due_member", {"kind": "final_notice"}) == "send final notice"
    assert tool_words("some_new_tool") == "some new tool"
    assert plural(1, "run") == "1 run" and plural(0, "run") == "0 runs" and plural(3, "copy", "copies") == "3 copies"
    assert money(2480) == "$2,480.00" and money(-5) == "-$5.00"


def test_unknown_and_routine_events() -> None:
    presenter = RunPresenter()
    assert presenter.lines(ApprovalDecided(1, "w", tool="flag_invoice", status="approved", via="policy")) == []
    denied = presenter.lines(ApprovalDecided(1, "w", approval_id=4, tool="escalate_to_collections", status="denied",
                                             via="tui", actor="sam", reason="not yet"))
    assert denied[0].plain.strip() == "§ approval #4 hand over to collections: denied by sam in the console: not yet"
    finished = presenter.lines(RunFinished(1, "w", status="budget_exhausted", iterations=1, error="limit\x1b[2J"))
    assert finished[0].plain.startswith("■ stopped: budget reached · 1 step")
    assert finished[1].plain == "  reason: limit␛[2J"
    tool = presenter.lines(ToolCallFinished(1, "w", name="flag_invoice", summary="flagged 2", decision="auto"))
    assert "flag invoice: flagged 2 [done automatically]" in tool[0].plain
    assert presenter.lines(Notice(1, "w", level="warning", message="slow"))[0].plain == "  ⚠ slow"


def test_a_call_and_its_result_read_the_same() -> None:
    presenter = RunPresenter()
    args = {"member_ids": [1], "kind": "final_notice"}
    started = presenter.lines(ToolCallStarted(1, "w", call_id="c1", name="notify_past_due_member", input=args))
    done = presenter.lines(ToolCallFinished(1, "w", call_id="c1", name="notify_past_due_member", summary="queued 1"))
    assert started[0].plain.startswith("  → send final notice ")
    assert done[0].plain.startswith("  ✓ send final notice: queued 1")
