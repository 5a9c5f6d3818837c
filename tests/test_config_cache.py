"""The validated configuration is remembered between commands: a hit is the same Config a full validation gives,
anything else (an edited file, a damaged cache) validates again, and a bad file is never remembered."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gymconsole.cli import main
from gymconsole.cli.init import _default_config
from gymconsole.config import Config, ConfigError, load_config
from gymconsole.config_cache import cache_key, load_config_cached, read_cached, rule_sources

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (ROOT / "config.toml").read_text(encoding="utf-8")


def cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("config-*.json"))


def cached(path: Path, folder: Path) -> Config | None:
    """Only what the cache holds for this file as it is now (None: a miss)."""
    [entry] = cache_files(folder)
    return read_cached(entry, cache_key(path.resolve(), path.read_bytes()), path.resolve())


EVERY_KIND_OF_SECTION = SHIPPED.replace("[workflows.door_access]\n", """[workflows.door_access.thinking]
mode = "budget"
budget_tokens = 2048

[workflows.door_access]
""") + """
[import.mappings.abc.members]
columns = { "Mbr No" = "member_id" }
values = { status = { "OK" = "active" } }
"""


@pytest.mark.parametrize("text", [SHIPPED, _default_config("Europe/London", "Harbour Gym"), "", EVERY_KIND_OF_SECTION],
                         ids=["shipped", "written by init --demo", "empty: every default", "sections in dicts"])
def test_a_hit_is_the_config_a_full_validation_gives(text: str, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    first = load_config_cached(path, tmp_path / "cache")
    hit = cached(path, tmp_path / "cache")
    full = load_config(path)
    assert hit is not None and first == full and hit == full
    assert hit.model_dump() == full.model_dump() and hit.model_dump(mode="json") == full.model_dump(mode="json")
    assert (hit.source_path, hit.file_keys) == (full.source_path, full.file_keys)
    assert load_config_cached(path, tmp_path / "cache") == full
    for name, workflow in full.workflows.items():  # nested models rebuilt as models, with their methods
        assert type(hit.workflows[name].schedule) is type(workflow.schedule)
        assert hit.workflows[name].schedule.describe() == workflow.schedule.describe()
        assert hit.task_for(name) == full.task_for(name) and hit.thinking_for(name) == full.thinking_for(name)
    assert hit.model.price_for("claude-sonnet-4-6") == full.model.price_for("claude-sonnet-4-6")
    assert hit.import_.mappings == full.import_.mappings and hit.workflows == full.workflows


def test_an_edited_file_misses_and_is_validated_again(tmp_path: Path) -> None:
    path, folder = tmp_path / "config.toml", tmp_path / "cache"
    path.write_text(SHIPPED, encoding="utf-8")
    load_config_cached(path, folder)
    path.write_text(SHIPPED.replace("past_due_flag_days = 7", "past_due_flag_days = 9"), encoding="utf-8")
    assert cached(path, folder) is None
    assert load_config_cached(path, folder).thresholds.past_due_flag_days == 9
    assert cached(path, folder) == load_config(path)  # rewritten for the file as it is now
    path.write_text(SHIPPED.replace("past_due_flag_days = 7", "past_due_flag_days = -9"), encoding="utf-8")
    with pytest.raises(ConfigError, match="past_due_flag_days"):  # a bad edit is caught, never served from cache
        load_config_cached(path, folder)


@pytest.mark.parametrize("damage", ["not json", "truncated", "value edited in place", "wrong shape"])
def test_a_damaged_cache_falls_back_to_a_full_validation(damage: str, tmp_path: Path) -> None:
    path, folder = tmp_path / "config.toml", tmp_path / "cache"
    path.write_text(SHIPPED, encoding="utf-8")
    load_config_cached(path, folder)
    [entry] = cache_files(folder)
    text = entry.read_text(encoding="utf-8")
    entry.write_text({"not json": "\x00garbage", "truncated": text[: len(text) // 2],
                      "value edited in place": text.replace('"past_due_flag_days": 7', '"past_due_flag_days": 1'),
                      "wrong shape": json.dumps({**json.loads(text), "config": [1, 2]})}[damage], encoding="utf-8")
    assert cached(path, folder) is None
    assert load_config_cached(path, folder) == load_config(path)
    assert cached(path, folder) == load_config(path)


def test_a_bad_config_gives_the_same_line_every_time_and_is_never_cached(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], private_cache_folder: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(SHIPPED.replace('timezone = "America/New_York"', 'timezone = "Mars/Olympus"'), encoding="utf-8")
    before = cache_files(private_cache_folder / "gymconsole")
    lines = []
    for _ in range(2):
        assert main(["workflows", "--json", "--config", str(path)]) == 2
        lines.append(capsys.readouterr().err)
    assert lines[0] == lines[1] and lines[0].count("\n") == 1 and "scheduler.timezone: unknown timezone" in lines[0]
    assert cache_files(private_cache_folder / "gymconsole") == before


def test_the_cache_holds_no_secret_and_only_its_owner_can_read_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        private_cache_folder: Path) -> None:
    secrets = {"ANTHROPIC_API_KEY": "sk-ant-api03-SENTINEL-KEY", "GYMCONSOLE_SMTP_PASSWORD": "SENTINEL-PASSWORD",
               "GYMCONSOLE_SMS_TOKEN": "SENTINEL-SMS", "GYMCONSOLE_SLACK_WEBHOOK": "https://hooks.example/SENTINEL"}
    for name, value in list(secrets.items())[:2]:
        monkeypatch.setenv(name, value)
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in list(secrets.items())[2:]), encoding="utf-8")
    for name in list(secrets)[2:]:  # absent now, and absent again after the test (.env loading sets them)
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    path = tmp_path / "config.toml"
    path.write_text(SHIPPED.replace("[delivery]", "[delivery]\n# a comment\n", 1), encoding="utf-8")
    assert main(["workflows", "--json", "--config", str(path), "--db", str(tmp_path / "gym.db")]) == 2  # no database
    assert "gym.db" in capsys.readouterr().err and os.environ["GYMCONSOLE_SMS_TOKEN"] == secrets["GYMCONSOLE_SMS_TOKEN"]
    entry = next(p for p in cache_files(private_cache_folder / "gymconsole")
                 if json.loads(p.read_text(encoding="utf-8"))["key"] == cache_key(path.resolve(), path.read_bytes()))
    text = entry.read_text(encoding="utf-8")
    assert "SENTINEL" not in text and "sk-ant" not in text
    if os.name == "posix":
        assert entry.stat().st_mode & 0o777 == 0o600 and entry.parent.stat().st_mode & 0o777 == 0o700


def test_every_module_that_defines_a_section_or_its_rules_keys_the_cache() -> None:
    """A section moved to a module of its own (the gym's message templates, say) must still miss the cache when its
    rules change: otherwise a cached config would skip a placeholder check the new rules make."""
    import sys

    from gymconsole.config_base import ConfigSection

    def sections(klass: type) -> list[type]:
        return [klass, *(sub for child in klass.__subclasses__() for sub in sections(child))]

    defining = {Path(sys.modules[klass.__module__].__file__ or "").resolve()
                for klass in sections(ConfigSection) if klass.__module__.startswith("gymconsole.")}
    keyed = {path.resolve() for path in rule_sources()}
    assert defining and defining <= keyed, defining - keyed
    assert {"config_gym.py", "config_validation.py", "names.py"} <= {path.name for path in keyed}
