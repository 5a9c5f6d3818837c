"""`gymconsole service`: the generated files each platform's service manager reads."""

from __future__ import annotations

import configparser
import plistlib
import shlex
import sys
import xml.etree.ElementTree as ET
from pathlib import Path, PureWindowsPath

import pytest

from gymconsole.cli import main
from gymconsole.service import enable_commands, service_file

ROOT = Path(__file__).resolve().parent.parent
NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    folder = tmp_path / "My Gym 100%"  # a space and a systemd specifier character in the path
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text((ROOT / "config.toml").read_text(encoding="utf-8"), encoding="utf-8")
    return path


def test_the_systemd_unit_runs_this_scheduler_at_start_up_and_restarts_it(config_file: Path) -> None:
    unit = service_file("linux", python=sys.executable, config=config_file, home=Path("/home/desk"))
    assert unit.path == Path("/home/desk/.config/systemd/user/gymconsole-scheduler.service")
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read_string(unit.text)
    words = shlex.split(parsed["Service"]["ExecStart"].replace("%%", "%"))
    assert words == [sys.executable, "-m", "gymconsole", "scheduler", "--config", str(config_file)]
    assert parsed["Service"]["Restart"] == "on-failure" and parsed["Install"]["WantedBy"] == "default.target"
    assert parsed["Service"]["WorkingDirectory"].replace("%%", "%") == str(config_file.parent)
    assert ["systemctl", "--user", "enable", "--now", "gymconsole-scheduler.service"] in enable_commands(unit)


def test_the_launchd_agent_keeps_the_scheduler_alive(config_file: Path) -> None:
    agent = service_file("macos", python="/usr/local/bin/python3", config=config_file, home=Path("/Users/desk"))
    assert agent.path == Path("/Users/desk/Library/LaunchAgents/com.gymconsole.scheduler.plist")
    plist = plistlib.loads(agent.text.encode())
    assert plist["ProgramArguments"] == ["/usr/local/bin/python3", "-m", "gymconsole", "scheduler", "--config",
                                         str(config_file)]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}
    assert enable_commands(agent) == [["launchctl", "load", "-w", str(agent.path)]]


def test_the_task_scheduler_xml_is_utf16_and_restarts_on_failure(tmp_path: Path) -> None:
    config = Path(r"C:\Users\Front Desk\AppData\Local\gymconsole\config.toml")
    task = service_file("windows", python=r"C:\gym\.venv\Scripts\python.exe", config=config, home=tmp_path,
                        user="FRONTDESK\\manager & co")
    written = tmp_path / "task.xml"
    written.write_text(task.text, encoding=task.encoding)
    assert written.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")  # schtasks /XML wants UTF-16
    root = ET.fromstring(written.read_bytes())
    exec_ = root.find("t:Actions/t:Exec", NS)
    assert exec_ is not None
    assert PureWindowsPath(exec_.findtext("t:Command", namespaces=NS) or "").name == "pythonw.exe"  # no window
    assert exec_.findtext("t:Arguments", namespaces=NS) == (
        '-m gymconsole scheduler --config "C:\\Users\\Front Desk\\AppData\\Local\\gymconsole\\config.toml"')
    assert root.findtext("t:Triggers/t:LogonTrigger/t:UserId", namespaces=NS) == "FRONTDESK\\manager & co"
    assert root.findtext("t:Settings/t:RestartOnFailure/t:Count", namespaces=NS) == "999"
    assert root.findtext("t:Settings/t:ExecutionTimeLimit", namespaces=NS) == "PT0S"
    assert enable_commands(task)[0][:3] == ["schtasks", "/Create", "/TN"]


def test_install_status_and_uninstall_on_this_computer(home: Path, config_file: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    if sys.platform != "linux":
        pytest.skip("writes the Linux unit")
    unit = home / ".config" / "systemd" / "user" / "gymconsole-scheduler.service"
    assert main(["service", "install", "--print", "--config", str(config_file)]) == 0
    assert "ExecStart=" in capsys.readouterr().out and not unit.exists()  # --print writes nothing
    assert main(["service", "install", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert unit.is_file() and "systemctl --user enable --now gymconsole-scheduler.service" in out
    assert main(["service", "status", "--config", str(config_file)]) == 0
    assert "(installed)" in capsys.readouterr().out
    assert main(["service", "uninstall", "--config", str(config_file)]) == 0
    assert not unit.exists()
    assert main(["service", "uninstall", "--config", str(config_file)]) == 2
    assert main(["service", "install", "--platform", "windows", "--config", str(config_file)]) == 2
    assert main(["service", "install", "--print", "--enable", "--config", str(config_file)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and all(line.startswith("gymconsole: ") for line in errors)
