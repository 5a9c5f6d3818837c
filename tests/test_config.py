"""Configuration errors: one line naming the file and the key, exit 2 through the CLI, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gymconsole.cli import main
from gymconsole.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (ROOT / "config.toml").read_text(encoding="utf-8")


def _edit(old: str, new: str) -> str:
    assert SHIPPED.count(old) >= 1, f"config.toml no longer contains {old!r}"
    return SHIPPED.replace(old, new, 1)


# (case, TOML text or None for a missing file, the key the message must name, a phrase it must contain)
CASES = [
    ("wrong type", _edit("past_due_flag_days = 7", 'past_due_flag_days = "seven"'),
     "thresholds.past_due_flag_days", "valid integer"),
    ("out of range", _edit("past_due_flag_days = 7", "past_due_flag_days = -3"),
     "thresholds.past_due_flag_days", "greater than"),
    ("unknown key", _edit("[thresholds]\n", "[thresholds]\nfrobnicate = 1\n"), "thresholds.frobnicate", "unknown key"),
    ("unknown section", SHIPPED + "\n[extras]\nx = 1\n", "extras", "unknown key"),
    ("bad cron field", _edit('schedule = { hour = "6", minute = "0" }', 'schedule = { hour = "25", minute = "0" }'),
     "workflows.daily_campaigns.schedule", "bad cron field"),
    ("unknown timezone", _edit('timezone = "America/New_York"', 'timezone = "Mars/Olympus_Mons"'),
     "scheduler.timezone", "unknown timezone"),
    ("unknown tool", _edit('tools = ["get_campaign_prospects"', 'tools = ["unlock_all_doors", "get_campaign_prospects"'),
     "workflows.daily_campaigns.tools", "unlock_all_doors"),
    ("bad placeholder", _edit("{campaign_daily_limit}", "{campaign_limit}"),
     "workflows.daily_campaigns.task", "placeholder"),
    ("attribute placeholder", _edit("{campaign_daily_limit}", "{campaign_daily_limit.real.nope}"),
     "workflows.daily_campaigns.task", "placeholder"),
    ("section as an array", _edit("[thresholds]\n", "[[thresholds]]\n"), "thresholds", "valid dictionary"),
    ("schedule as an array", _edit('schedule = { hour = "6", minute = "0" }', 'schedule = ["6", "0"]'),
     "workflows.daily_campaigns.schedule", "valid dictionary"),
    ("bad TOML", SHIPPED + "\n[thresholds\n", "", "not valid TOML"),
    ("duplicate key", SHIPPED.replace("[thresholds]\n", "[thresholds]\npast_due_flag_days = 3\n", 1), "", "not valid TOML"),
    ("missing file", None, "", "file not found"),
]
IDS = [case[0] for case in CASES]


def _write(tmp_path: Path, text: str | None) -> Path:
    path = tmp_path / "bad.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads() -> None:
    config = load_config(ROOT / "config.toml")
    assert len(config.workflows) == 6
    assert config.source_of("thresholds.past_due_flag_days") == "config.toml"


@pytest.mark.parametrize(("name", "text", "key", "phrase"), CASES, ids=IDS)
def test_error_is_one_line_naming_file_and_key(tmp_path: Path, name: str, text: str | None, key: str,
                                               phrase: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert key in message and phrase in message, message


@pytest.mark.parametrize(("name", "text", "key", "phrase"), CASES, ids=IDS)
def test_cli_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str | None,
                                   key: str, phrase: str) -> None:
    path = _write(tmp_path, text)
    code = main(["--config", str(path), "tool", "get_member", '{"member_id": 1}', "--db", str(tmp_path / "x.db")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("gymconsole: ") and phrase in err, err


@pytest.mark.parametrize("command", [["workflows"], ["tool", "get_member", '{"member_id": 1}'], ["init", "--demo"]])
def test_cli_subprocess_has_no_traceback(tmp_path: Path, command: list[str]) -> None:
    path = _write(tmp_path, _edit('timezone = "America/New_York"', 'timezone = "Nowhere/Land"'))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "gymconsole", "--config", str(path), *command],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    if command == ["workflows"] and "invalid choice" in result.stderr:
        pytest.skip("the workflows subcommand is not built yet")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "scheduler.timezone" in result.stderr, result.stderr
    assert not (tmp_path / "gym.db").exists()


def test_the_api_key_is_read_from_a_dotenv_beside_the_config(tmp_path, monkeypatch) -> None:
    import argparse
    import shutil

    from gymconsole.cli.common import config_from
    from gymconsole.config import find_api_key

    for name in ("ANTHROPIC_API_KEY", "CLAUDE_API_KEY"):
        monkeypatch.setenv(name, "")  # restored (to absent) after the test, whatever .env sets
        monkeypatch.delenv(name)
    office = tmp_path / "office"
    office.mkdir()
    shutil.copyfile(ROOT / "config.toml", office / "config.toml")
    (office / ".env").write_text("CLAUDE_API_KEY=sk-from-dotenv\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config_from(argparse.Namespace(config=str(office / "config.toml"), command="workflows"))
    assert find_api_key() == "sk-from-dotenv"
