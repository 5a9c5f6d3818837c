"""The log file: private, local time with offset, gymconsole's lines without library chatter, no secrets."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest

from gymconsole.cli import main
from gymconsole.cli.common import setup_logging
from gymconsole.config import Config

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "config.toml")


@pytest.fixture
def restore_logging():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    before = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in before[0]:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(before[1])


def test_a_run_leaves_its_lines_in_a_private_log_in_local_time(demo_path: Path, restore_logging: None,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-never-logged")
    assert main(["run", "door_access", "--offline", "--approve", "no", "--json", "--config", CONFIG,
                 "--db", str(demo_path)]) == 0
    capsys.readouterr()
    log = demo_path.parent / "gymconsole.log"
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} [A-Z]+ ", line) for line in lines), lines
    assert any("run #1 door_access started (manual, offline)" in line for line in lines)
    assert any("run #1 door_access approval #" in line and "denied" in line for line in lines)
    assert any("run #1 door_access succeeded" in line for line in lines)
    assert not any(" apscheduler" in line or " aiosqlite" in line for line in lines)
    assert "sk-ant-test" not in text
    if os.name == "posix":
        assert log.stat().st_mode & 0o777 == 0o600


def test_library_chatter_below_warning_is_left_out(repo_config: Config, tmp_path: Path,
                                                    restore_logging: None) -> None:
    config = repo_config.model_copy(update={"database": repo_config.database.model_copy(
        update={"path": str(tmp_path / "gym.db")})})
    setup_logging(config, terminal=False)
    logging.getLogger("apscheduler.scheduler").info('Running job "door_access"')
    logging.getLogger("apscheduler.executors").warning("Run time of job was missed")
    logging.getLogger("gymconsole.engine.lease").info("lease: this service now runs the schedules")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = (tmp_path / "gymconsole.log").read_text(encoding="utf-8")
    assert "Running job" not in text and "was missed" in text and "now runs the schedules" in text
