"""Where an installed gymconsole finds its configuration, and files only their owner can read.

The configuration is looked for in this order: ``--config PATH``, the
``GYMCONSOLE_CONFIG`` variable, ``config.toml`` in the current folder, then
``config.toml`` in the per-user config folder (``~/.config/gymconsole`` on
Linux, ``~/Library/Application Support/gymconsole`` on macOS,
``%LOCALAPPDATA%\\gymconsole`` on Windows).  ``gymconsole init`` writes the
default configuration (shipped inside the package) to the last of these.

The gym's files hold members' names, phones and balances: on POSIX the
database, the log and backups are created 0600 and a folder gymconsole
creates for them 0700.  (On Windows a user's profile folders are private to
the user already.)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CONFIG_NAME = "config.toml"
CONFIG_VARIABLE = "GYMCONSOLE_CONFIG"
PACKAGED_CONFIG = "default_config.toml"
"""The default configuration inside an installed package (copied from the repository's config.toml at build)."""
POSIX = os.name == "posix"


class NoConfig(Exception):
    """No configuration anywhere it is looked for; the message says where it looked."""


def user_config_dir() -> Path:
    """The per-user folder for gymconsole's configuration (and, by default, its database)."""
    from platformdirs import user_config_dir as folder

    return Path(folder("gymconsole", appauthor=False, roaming=False))


def config_candidates(explicit: str | None, env: dict[str, str] | None = None) -> list[tuple[Path, str]]:
    """Where a configuration is looked for, in order, each with how it was named."""
    env = os.environ if env is None else env  # type: ignore[assignment]
    if explicit:
        return [(Path(explicit), "--config")]
    if env.get(CONFIG_VARIABLE):
        return [(Path(env[CONFIG_VARIABLE]), CONFIG_VARIABLE)]
    return [(Path(CONFIG_NAME), "current folder"), (user_config_dir() / CONFIG_NAME, "per-user folder")]


def find_config(explicit: str | None, env: dict[str, str] | None = None) -> Path:
    """The configuration file to use.  A path named by ``--config`` or the variable is returned as named
    (missing or not: loading says so); otherwise the first that exists, or :class:`NoConfig`."""
    candidates = config_candidates(explicit, env)
    if len(candidates) == 1:
        return candidates[0][0]
    for path, _ in candidates:
        if path.is_file():
            return path
    looked = " or ".join(str(path.resolve() if not path.is_absolute() else path) for path, _ in candidates)
    raise NoConfig(f"no configuration found (looked for {looked}); create one with `gymconsole init --demo`")


def default_config_text() -> str:
    """The shipped default configuration: inside the package when installed, the repository's in a checkout."""
    from importlib import resources  # here: every command imports this module, only `init` reads the package

    packaged = resources.files("gymconsole").joinpath(PACKAGED_CONFIG)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parent.parent / CONFIG_NAME
    return checkout.read_text(encoding="utf-8")


def private_dir(path: Path) -> Path:
    """Create a folder (and its parents) readable by its owner only; an existing folder is left as it is."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if POSIX:
            os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path) -> Path:
    """Create an empty file only its owner can read and write, unless it exists already (left as it is).

    SQLite then keeps the database's mode for its -wal and -shm files.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except FileExistsError:
        return path
    os.close(fd)
    if POSIX:
        os.chmod(path, 0o600)
    return path


def open_private(path: Path, mode: str = "a", encoding: str | None = "utf-8"):  # type: ignore[no-untyped-def]
    """``open()`` for a file that is created 0600 on POSIX (the log, a backup)."""
    private_file(path)
    return open(path, mode, encoding=encoding)


def describe_platform() -> str:
    return {"win32": "Windows", "darwin": "macOS"}.get(sys.platform, "Linux")
