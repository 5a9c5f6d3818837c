"""Configuration and input edges: each refused with one clear line, none taken silently."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_safety import ROOT, gymconsole_env

from gymconsole.config import ConfigError, load_config
from gymconsole.tools.base import JsonTooBig, loads_bounded
from gymconsole.tools.registry import call_tool

SHIPPED = (ROOT / "config.toml").read_text(encoding="utf-8")


def config_with(tmp_path: Path, old: str, new: str) -> Path:
    assert old in SHIPPED, old
    path = tmp_path / "config.toml"
    path.write_text(SHIPPED.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ("suspend_min_amount = 50.0", "suspend_min_amount = inf", "thresholds.suspend_min_amount: Input should be a finite number"),
    ("suspend_min_amount = 50.0", "suspend_min_amount = nan", "thresholds.suspend_min_amount: Input should be a finite number"),
    ("bulk_threshold = 10", "bulk_threshold = true", "safety.bulk_threshold: expected a number, got true"),
    ("quiet_hours_end = 8", "quiet_hours_end = 21",
     'quiet_hours_start and quiet_hours_end are both 21: to send at any hour, write quiet_hours_start = "none"'),
    ('schedule = { day = "1", hour = "9", minute = "0" }', 'schedule = { month = "2", day = "30", hour = "9" }',
     "workflows.invoice_review.schedule: the schedule '0 9 30 2 *' never fires"),
    ('task = """', 'task = """{suspend_after_days:>999999999} ',
     "placeholder {suspend_after_days:>999999999} has a format; write plain {suspend_after_days}"),
    ('task = """', 'task = """{suspend_after_days.__class__} ', "placeholder {suspend_after_days.__class__} must be a plain name"),
    ('task = """', 'task = """{suspend_after_days[0]} ', "placeholder {suspend_after_days[0]} must be a plain name"),
    ('task = """', 'task = """{suspend_after_days!r} ', "placeholder {suspend_after_days!r} has a format"),
])
def test_a_configuration_edge_is_one_clear_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = config_with(tmp_path, old, new)
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert time.perf_counter() - started < 2  # refused before any huge format is attempted


def test_quiet_hours_can_be_switched_off_only_in_words(tmp_path: Path) -> None:
    config = load_config(config_with(tmp_path, "quiet_hours_end = 8", 'quiet_hours_end = "none"'))
    assert (config.safety.quiet_hours_start, config.safety.quiet_hours_end) == ("none", "none")


def test_february_29_is_a_schedule_that_fires(tmp_path: Path) -> None:
    load_config(config_with(tmp_path, 'schedule = { day = "1", hour = "9", minute = "0" }',
                            'schedule = { month = "2", day = "29", hour = "9" }'))


def test_a_zero_byte_database_is_no_database(tmp_path: Path) -> None:
    config = config_with(tmp_path, 'path = "gym.db"', 'path = "gym.db"')
    (tmp_path / "gym.db").write_bytes(b"")
    env = gymconsole_env()
    listed = subprocess.run([sys.executable, "-m", "gymconsole", "history", "--config", str(config)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, env=env)
    assert listed.returncode == 2 and listed.stderr.count("\n") == 1 and "no database here" in listed.stderr
    assert (tmp_path / "gym.db").stat().st_size == 0  # not silently turned into a database
    made = subprocess.run([sys.executable, "-m", "gymconsole", "init", "--config", str(config)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=env)
    assert made.returncode == 0, made.stderr  # like a missing file: init creates it, no --force needed


async def test_booleans_are_not_ids(demo_db, config, clock) -> None:  # type: ignore[no-untyped-def]
    from gymconsole.tools.base import ToolContext

    async def never(*_: object) -> None:
        raise AssertionError("nothing is decided for bad input")

    ctx = ToolContext(demo_db, config, clock, "door_access", None)
    for name, args in [("get_member", {"member_id": True}), ("suspend_door_access", {"member_ids": [2, True]})]:
        outcome = await call_tool(ctx, name, args, None, never)  # type: ignore[arg-type]
        assert outcome.is_error and "true/false is not a number or an ID" in outcome.result["error"]


@pytest.mark.parametrize(("text", "message"), [
    ("[" * 60_000 + "]" * 60_000, "nested too deep"),
    ('{"a": ' + "[" * 40 + "1" + "]" * 40 + "}", "nested too deep"),
    ('{"notes": "' + "x" * 1_000_001 + '"}', "too large"),
])
def test_json_too_deep_or_too_large_is_one_line(text: str, message: str) -> None:
    with pytest.raises(JsonTooBig, match=message):
        loads_bounded(text)
    assert loads_bounded('{"member_ids": [1, 2], "filters": {"min_days": 3}}')["member_ids"] == [1, 2]


def test_the_tool_command_refuses_deep_json_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "gymconsole", "tool", "get_member", "[" * 60_000 + "]" * 60_000],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, env=gymconsole_env())
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "nested too deep" in proc.stderr
