"""What each platform's service manager needs to run ``gymconsole scheduler`` at start-up, restarting it on failure.

* Linux: a systemd *user* unit (``~/.config/systemd/user/gymconsole-scheduler.service``);
* macOS: a launchd agent (``~/Library/LaunchAgents/com.gymconsole.scheduler.plist``);
* Windows: a Task Scheduler task defined in XML (beside the configuration), registered with ``schtasks``.

Each runs this Python with ``-m gymconsole scheduler --config ABSOLUTE_PATH``, so
the service finds the same configuration and database whatever its working
folder and environment.  Nothing here runs a command; :func:`enable_commands`
says which ones turn the service on.
"""

from __future__ import annotations

import getpass
import plistlib
import sys
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from xml.sax.saxutils import escape

PLATFORMS = ("linux", "macos", "windows")
UNIT = "gymconsole-scheduler.service"
LABEL = "com.gymconsole.scheduler"
TASK = "gymconsole scheduler"
TASK_XML = "gymconsole-scheduler.xml"


def current_platform() -> str:
    return {"win32": "windows", "darwin": "macos"}.get(sys.platform, "linux")


@dataclass(frozen=True)
class ServiceFile:
    """One generated service definition."""

    platform: str
    path: Path
    text: str
    encoding: str = "utf-8"


def command_line(python: str, config: Path) -> list[str]:
    return [python, "-m", "gymconsole", "scheduler", "--config", str(config)]


def _systemd_quote(word: str) -> str:
    """A word for ExecStart: double-quoted with C escapes (systemd's rules), % doubled (specifiers)."""
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def systemd_unit(python: str, config: Path, home: Path) -> ServiceFile:
    words = " ".join(_systemd_quote(word) for word in command_line(python, config))
    text = f"""# Written by `gymconsole service install`: the gym's scheduled workflows, headless.
[Unit]
Description=gymconsole scheduler (the gym's scheduled workflows)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={words}
WorkingDirectory={str(config.parent).replace("%", "%%")}
Environment=PYTHONIOENCODING=utf-8
Restart=on-failure
RestartSec=10
# SIGTERM lets runs in progress finish (up to the scheduler's --grace, 30 s) before it stops.
KillSignal=SIGTERM
TimeoutStopSec=60

[Install]
WantedBy=default.target
"""
    return ServiceFile("linux", home / ".config" / "systemd" / "user" / UNIT, text)


def launchd_agent(python: str, config: Path, home: Path) -> ServiceFile:
    logs = config.parent
    plist = {
        "Label": LABEL,
        "ProgramArguments": command_line(python, config),
        "WorkingDirectory": str(config.parent),
        "EnvironmentVariables": {"PYTHONIOENCODING": "utf-8"},
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},  # restart when it fails, not after a clean stop
        "ThrottleInterval": 10,
        "ProcessType": "Background",
        "StandardOutPath": str(logs / "scheduler.out.log"),
        "StandardErrorPath": str(logs / "scheduler.err.log"),
    }
    text = plistlib.dumps(plist, sort_keys=False).decode("utf-8")
    return ServiceFile("macos", home / "Library" / "LaunchAgents" / f"{LABEL}.plist", text)


def _windows_arguments(words: list[str]) -> str:
    """Arguments as one Windows command-line string (each word quoted when it needs to be)."""
    import subprocess

    return subprocess.list2cmdline(words)


def task_xml(python: str, config: Path, user: str) -> ServiceFile:
    """A Task Scheduler task: at log-on of this user, restart every minute on failure, no time limit."""
    exe = PureWindowsPath(python)
    windowless = exe.with_name("pythonw.exe") if exe.name.lower() == "python.exe" else exe
    arguments = _windows_arguments(command_line(str(windowless), config)[1:])
    text = f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.4" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>gymconsole scheduler: the gym's scheduled workflows, headless (written by gymconsole service install)</Description>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
      <UserId>{escape(user)}</UserId>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>{escape(user)}</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(str(windowless))}</Command>
      <Arguments>{escape(arguments)}</Arguments>
      <WorkingDirectory>{escape(str(config.parent))}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"""
    return ServiceFile("windows", config.parent / TASK_XML, text, encoding="utf-16")


def service_file(platform: str, *, python: str, config: Path, home: Path, user: str | None = None) -> ServiceFile:
    if platform == "linux":
        return systemd_unit(python, config, home)
    if platform == "macos":
        return launchd_agent(python, config, home)
    return task_xml(python, config, user or getpass.getuser())


def enable_commands(service: ServiceFile) -> list[list[str]]:
    """The commands that turn the installed service on (and start it now)."""
    if service.platform == "linux":
        return [["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", UNIT]]
    if service.platform == "macos":
        return [["launchctl", "load", "-w", str(service.path)]]
    return [["schtasks", "/Create", "/TN", TASK, "/XML", str(service.path), "/F"], ["schtasks", "/Run", "/TN", TASK]]


def disable_commands(service: ServiceFile) -> list[list[str]]:
    """The commands that stop the service and turn it off (before its file is removed)."""
    if service.platform == "linux":
        return [["systemctl", "--user", "disable", "--now", UNIT]]
    if service.platform == "macos":
        return [["launchctl", "unload", "-w", str(service.path)]]
    return [["schtasks", "/End", "/TN", TASK], ["schtasks", "/Delete", "/TN", TASK, "/F"]]


def status_commands(service: ServiceFile) -> list[list[str]]:
    if service.platform == "linux":
        return [["systemctl", "--user", "status", UNIT]]
    if service.platform == "macos":
        return [["launchctl", "list", LABEL]]
    return [["schtasks", "/Query", "/TN", TASK, "/V", "/FO", "LIST"]]


def shell_line(command: list[str]) -> str:
    """A command as one line a person can paste (POSIX quoting, or Windows' for schtasks)."""
    if command and command[0] == "schtasks":
        return _windows_arguments(command)
    import shlex

    return shlex.join(command)
