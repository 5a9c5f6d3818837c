"""A normal (non-editable) install, used as a new user would: from an empty folder, with an empty home.

The wheel is built from a copy of the repository and installed into a fresh
virtual environment without its dependencies, which it reaches through a
``.pth`` file pointing at this environment's (so the test takes seconds, not a
download).  The installed program must find nothing of the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("gymconsole", "pyproject.toml", "setup.py", "MANIFEST.in", "config.toml", "README.md")

pytestmark = pytest.mark.skipif(os.name != "posix" or shutil.which("tmux") is None, reason="POSIX venv and tmux")


def build_and_install(tmp_path: Path) -> Path:
    """Build the wheel and install it into a fresh venv; returns the venv's bin folder."""
    source = tmp_path / "checkout"
    source.mkdir()
    for name in SHIPPED:
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(item, source / name)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index", "--no-build-isolation",
                    "-w", str(dist), str(source)], check=True, capture_output=True, timeout=300)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (purelib / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    wheel = next(dist.glob("gymconsole-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    shutil.rmtree(source)  # nothing of the checkout is left to find
    return venv / "bin"


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def user_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "XDG_", "GYMCONSOLE_")) and k not in ("PYTHONPATH", "CLAUDE_API_KEY")}
    env["HOME"] = str(home)
    return env


@pytest.mark.slow
def test_an_installed_gymconsole_sets_itself_up_from_an_empty_folder(tmp_path: Path) -> None:
    if not _has("wheel"):
        pytest.skip("the test extra's `wheel` builds the package without downloading build tools")
    bin_dir = build_and_install(tmp_path)
    home, empty = tmp_path / "home", tmp_path / "anywhere"
    home.mkdir()
    empty.mkdir()
    env = user_env(home)

    def gymconsole(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bin_dir / "gymconsole"), *args], capture_output=True, text=True, env=env,
                              cwd=empty, timeout=120, stdin=subprocess.DEVNULL)

    where = subprocess.run([str(bin_dir / "python"), "-c", "import gymconsole; print(gymconsole.__file__)"],
                           capture_output=True, text=True, env=env, cwd=empty, check=True).stdout
    assert where.startswith(str(bin_dir.parent)), where

    before = gymconsole("workflows")
    assert before.returncode == 2 and "gymconsole init" in before.stderr and "Traceback" not in before.stderr

    init = gymconsole("init", "--demo")
    folder = home / ".config" / "gymconsole"
    assert init.returncode == 0, init.stderr
    assert f"configuration: {folder / 'config.toml'}" in init.stdout and f"database:      {folder / 'gym.db'}" in init.stdout
    assert (folder / "config.toml").read_text(encoding="utf-8").startswith("# Written by `gymconsole init`")
    assert (folder / "gym.db").stat().st_mode & 0o777 == 0o600 and folder.stat().st_mode & 0o777 == 0o700

    listed = gymconsole("workflows", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {row["name"] for row in json.loads(listed.stdout)} >= {"door_access", "daily_campaigns"}

    ran = gymconsole("run", "door_access", "--offline", "--approve", "no", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["status"] == "succeeded"

    again = gymconsole("init", "--demo")  # with a config there it behaves as before: the database is kept
    assert again.returncode == 2 and "already exists" in again.stderr and len(again.stderr.splitlines()) == 1

    assert_console_opens(bin_dir, home, empty)


def assert_console_opens(bin_dir: Path, home: Path, folder: Path) -> None:
    session = f"issue10-install-{os.getpid()}"
    command = f"cd {folder} && env -u XDG_CONFIG_HOME -u PYTHONPATH HOME={home} {bin_dir / 'gymconsole'} --offline"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True)
    try:
        deadline = time.monotonic() + 90
        screen = ""
        while time.monotonic() < deadline:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                    text=True).stdout
            if "Door access" in screen and "scheduled" in screen:
                break
            time.sleep(0.2)
        assert "Door access" in screen and "Traceback" not in screen, screen
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            alive = subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0
            if not alive:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the console did not quit on q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
