"""What each command loads at start-up: only what it uses (timings are in `make bench`, not here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gymconsole.cli import SUBCOMMANDS, SUMMARIES, build_parser
from gymconsole.config import Config
from gymconsole.tui.screens.config_view import walk_config

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "config.toml")

PROBE = """
import contextlib, io, json, sys
from gymconsole.cli import main
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        code = main(json.loads(sys.argv[1]))
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def loaded_by(*argv: str) -> tuple[str, set[str]]:
    """Run the CLI in a fresh interpreter; what it printed and every module it imported."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(argv))], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["code"] in (0, None), report
    return report["out"], set(report["modules"])


def heavy(modules: set[str]) -> set[str]:
    roots = ("anthropic", "textual", "apscheduler.schedulers", "gymconsole.engine.agent", "gymconsole.tui",
             "gymconsole.delivery", "pydantic._internal._docs_extraction_used")
    return {name for name in modules if name.startswith(roots)}


def test_help_lists_every_subcommand_without_importing_them() -> None:
    out, modules = loaded_by("--help")
    for name in SUBCOMMANDS:
        assert name in out
    assert not {f"gymconsole.cli.{name}" for name in SUBCOMMANDS} & modules
    assert not heavy(modules)


def test_help_summaries_match_each_subcommand() -> None:
    parser = build_parser()  # every subcommand really imported
    actions = next(a for a in parser._actions if a.dest == "command")
    helps = {choice.dest: choice.help for choice in actions._choices_actions}
    assert {name: helps[name] for name in SUMMARIES} == SUMMARIES


def test_a_read_tool_loads_neither_the_engine_nor_the_console(demo_path: Path) -> None:
    out, modules = loaded_by("tool", "get_member", '{"member_id": 1}', "--db", str(demo_path), "--config", CONFIG)
    assert json.loads(out)["member"]["id"] == 1
    assert not heavy(modules)
    assert not any(name.startswith(("gymconsole.engine", "apscheduler.schedulers")) for name in modules)
    # nor the acting tools, the guard rails and the ledger, nor python-dotenv without a .env file
    assert not {"gymconsole.tools.act", "gymconsole.tools.guards", "gymconsole.tools.ledger"} & modules
    assert (ROOT / ".env").exists() or "dotenv" not in modules


def test_history_json_does_not_load_the_tools(demo_path: Path) -> None:
    out, modules = loaded_by("history", "--json", "--db", str(demo_path), "--config", CONFIG)
    json.loads(out)
    assert "gymconsole.tools.registry" not in modules and not heavy(modules)
    assert not drawing(modules)


def drawing(modules: set[str]) -> set[str]:
    """What only a table or a trace on the terminal needs."""
    return {name for name in modules
            if name.startswith(("rich.console", "rich.table", "gymconsole.present.run_events", "gymconsole.cli.printer"))}


def test_workflows_json_computes_next_runs_without_the_scheduler_machinery(demo_path: Path) -> None:
    out, modules = loaded_by("workflows", "--json", "--db", str(demo_path), "--config", CONFIG)
    assert {row["name"] for row in json.loads(out)} >= {"daily_campaigns", "door_access"}
    assert all(row["next_run"] for row in json.loads(out) if row["enabled"])
    assert not heavy(modules) and not drawing(modules)
    assert not any(name.startswith(("gymconsole.engine.runner", "gymconsole.tools.registry")) for name in modules)


def test_config_documentation_is_read_only_when_asked() -> None:
    assert all(field.description is None for field in Config.model_fields.values())  # nothing parsed at import
    rows = list(walk_config(Config()))
    assert rows and all(description for _, _, description in rows), [key for key, _, d in rows if not d]
    assert dict((key, d) for key, _, d in rows)["delivery.smtp.port"].startswith("SMTP port")


def test_the_tool_names_list_matches_the_registry() -> None:
    from gymconsole.tools import names, registry

    tools = dict(registry.REGISTRY.items())  # every tool module loaded, each checked against its list of names
    assert {tool.name for tool in tools.values()} == set(tools) == names.TOOL_NAMES


def test_the_registry_refuses_a_module_whose_tools_drifted_from_the_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from gymconsole.tools import names, registry

    read = ("gymconsole.tools.read", "READ_TOOLS")
    monkeypatch.setitem(names.TOOL_MODULES, read, names.TOOL_MODULES[read] - {"get_member"} | {"get_members"})
    with pytest.raises(ImportError, match=r"add \['get_member'\], remove \['get_members'\]"):
        registry.ToolRegistry()["get_ppv_members"]


@pytest.mark.parametrize("argv", [["frob"], ["tool", "--frob"]])
def test_an_unknown_word_is_still_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from gymconsole.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gymconsole:" in err


PLUGIN_PROBE = """
import contextlib, io, json, os, sys
from gymconsole.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(json.loads(sys.argv[1]))
from pydantic.plugin import _loader
print(json.dumps({"setting": os.environ.get("PYDANTIC_DISABLE_PLUGINS"), "scanned": _loader._plugins is not None}))
"""


@pytest.mark.parametrize("preset", [None, "some_plugin"])
def test_pydantic_plugins_are_not_searched_for_unless_the_environment_says(demo_path: Path, preset: str | None,
                                                                          tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "PYDANTIC_DISABLE_PLUGINS"}
    env["PYTHONPATH"] = str(ROOT)
    env["XDG_CACHE_HOME"] = str(tmp_path)  # nothing cached: the configuration is validated, building pydantic schemas
    if preset:
        env["PYDANTIC_DISABLE_PLUGINS"] = preset
    argv = ["tool", "get_member", '{"member_id": 1}', "--db", str(demo_path), "--config", CONFIG]
    result = subprocess.run([sys.executable, "-c", PLUGIN_PROBE, json.dumps(argv)], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.splitlines()[-1])
    # the scan of every installed package's entry points happens only when the person running it asked for plugins
    assert report == ({"setting": "__all__", "scanned": False} if preset is None
                      else {"setting": "some_plugin", "scanned": True})


def test_the_console_paints_before_the_engine_loads() -> None:
    """What the CLI imports before the dashboard's first frame: the console, not the engine (which loads on a
    thread once the dashboard shows)."""
    script = ("import json, sys; import gymconsole.cli.console; from gymconsole.tui.app import make_app, "
              "AFTER_FIRST_PAINT; print(json.dumps({'modules': sorted(sys.modules), 'later': AFTER_FIRST_PAINT}))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    modules = set(report["modules"])
    assert "textual.app" in modules and "gymconsole.tui.screens.dashboard" in modules
    assert not set(report["later"]) & modules
    assert not any(name.startswith(("gymconsole.engine", "gymconsole.tools.registry", "gymconsole.present.run_events",
                                    "anthropic", "apscheduler.schedulers")) for name in modules)


def test_a_command_run_again_does_not_validate_the_configuration_again(demo_path: Path, tmp_path: Path) -> None:
    """The first run validates the configuration and remembers it; the next one rebuilds it without importing
    pydantic's model code at all (nor parsing TOML, nor loading APScheduler for the cron checks)."""
    config = tmp_path / "config.toml"
    config.write_text(Path(CONFIG).read_text(encoding="utf-8") + "\n# this test's copy\n", encoding="utf-8")
    argv = ("history", "--json", "--db", str(demo_path), "--config", str(config))
    _, first = loaded_by(*argv)
    assert "pydantic.plugin._loader" in first  # validated: schemas built
    out, again = loaded_by(*argv)
    json.loads(out)
    assert not {"pydantic.plugin._loader", "tomllib", "apscheduler"} & again
    assert not {"pydantic.main", "pydantic.fields", "gymconsole.config_validation"} & again
