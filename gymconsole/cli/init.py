"""``gymconsole init [--demo] [--gym-name NAME] [--timezone TZ] [--config PATH]``: set up the gym's files.

With no configuration anywhere gymconsole looks (``--config``,
``$GYMCONSOLE_CONFIG``, ``./config.toml``, the per-user config folder), it
first writes the default configuration, with comments, to ``--config`` when
given, else to the per-user config folder; ``--gym-name`` and ``--timezone``
go into it.  Then it creates the database the configuration names (beside
it by default) and prints both paths.  With a configuration already there,
only the database is created.

Without ``--demo`` the database is empty (schema only).  With ``--demo`` it
holds a deterministic demo gym (``--scale N`` multiplies every count; dates
are relative to today, or ``--today YYYY-MM-DD``).  An existing file is never
replaced without ``--force``.  Prints one line with what was created.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gymconsole.cli import common
from gymconsole.db import open_database
from gymconsole.db.schema import SCHEMA_VERSION

MAX_SCALE = 1000


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("init", help="create the database (empty, or a demo gym with --demo)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common(parser)
    parser.add_argument("--demo", action="store_true", help="fill it with a demo gym")
    parser.add_argument("--scale", type=int, default=None, metavar="N",
                        help=f"demo size: every count times N (1-{MAX_SCALE}, default 1)")
    parser.add_argument("--today", default=None, metavar="YYYY-MM-DD", help="the demo's 'today' (default: today)")
    parser.add_argument("--force", action="store_true", help="replace an existing database file")
    parser.add_argument("--gym-name", default=None, metavar="NAME", help="the gym's name (in a new config)")
    parser.add_argument("--timezone", default=None, metavar="TZ",
                        help="IANA timezone of the schedules, e.g. Europe/London (in a new config)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if (args.scale is not None or args.today is not None) and not args.demo:
        raise common.UsageError("--scale and --today only apply with --demo")
    scale = 1 if args.scale is None else args.scale
    if not 1 <= scale <= MAX_SCALE:
        raise common.UsageError(f"--scale must be from 1 to {MAX_SCALE}, got {scale}")
    today = _parse_day(args.today)
    written = _write_config_if_none(args)
    config = common.config_from(args)
    path = config.database_path()
    if (path.exists() and not _empty_file(path)) or path.is_symlink():
        if not args.force:
            raise common.UsageError(f"{path} already exists (add --force to replace it)")
        if path.is_dir():
            raise common.UsageError(f"{path} is a folder, not a database file")
        _remove(path)
    if not path.parent.is_dir():
        raise common.UsageError(f"{path.parent}: no such folder")
    started = time.perf_counter()
    if args.demo:
        from gymconsole.db.demo import create_demo

        counts = common.run_async(create_demo(path, scale=scale, today=today))
        shown = ", ".join(f"{counts[t]:,} {t.replace('_', ' ')}" for t in
                          ("members", "prospects", "invoices", "payments", "referrals", "door_credentials"))
        print(f"created demo gym {path} (scale {scale}, today {(today or date.today()).isoformat()}): {shown} "
              f"in {time.perf_counter() - started:.1f} s")
    else:
        common.run_async(_create_empty(path))
        print(f"created empty database {path} (schema version {SCHEMA_VERSION})")
    if written is not None:
        print(f"configuration: {written}")
        print(f"database:      {path}")
        print("next: `gymconsole` opens the console; `gymconsole scheduler` runs the schedules headless")
    return 0


def _write_config_if_none(args: argparse.Namespace) -> Path | None:
    """Write the default configuration where it belongs when there is none; returns its path (None: one exists)."""
    from gymconsole.config import ConfigError, parse_config
    from gymconsole.paths import NoConfig, find_config, private_dir, user_config_dir

    explicit = getattr(args, "config", None)
    try:
        target = find_config(explicit)
    except NoConfig:
        target = user_config_dir() / "config.toml"
    if target.is_file():
        if args.timezone is not None or args.gym_name is not None:
            raise common.UsageError(f"--timezone and --gym-name only apply to a new configuration; "
                                    f"edit {target.resolve()} instead")
        return None
    if target.exists():
        raise common.UsageError(f"{target}: not a file")
    text = _default_config(args.timezone, args.gym_name)
    try:
        import tomllib

        parse_config(tomllib.loads(text), target)
    except (ConfigError, tomllib.TOMLDecodeError) as exc:
        raise common.UsageError(str(exc)) from None
    try:
        private_dir(target.parent.resolve())
        with open(target, "x", encoding="utf-8", newline="\n") as out:
            out.write(text)
    except OSError as exc:
        raise common.UsageError(f"{target}: cannot write: {exc.strerror or exc}") from None
    args.config = str(target.resolve())
    return target.resolve()


def _default_config(timezone: str | None, gym_name: str | None) -> str:
    """The shipped default configuration, with the gym's name and timezone when given."""
    from gymconsole.config import Config
    from gymconsole.paths import default_config_text

    text = default_config_text()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    header = (f"# Written by `gymconsole init` on {stamp}.  The database (gym.db) and the log (gymconsole.log)\n"
              "# are kept beside this file unless [database] path says otherwise.\n")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise common.UsageError(f"--timezone: unknown timezone {timezone!r} (try e.g. Europe/London)") from None
        text, count = re.subn(r'(?m)^timezone = ".*"$', f"timezone = {json.dumps(timezone)}", text, count=1)
        if not count:
            text += f"\n[scheduler]\ntimezone = {json.dumps(timezone)}\n"
    if gym_name is not None:
        name = " ".join(gym_name.split())
        if not name or not name.isprintable():
            raise common.UsageError("--gym-name: give the gym's name in printable characters")
        if "gym" not in Config.model_fields:  # no [gym] settings in this version: noted for a person to see
            return header + f"# The gym: {name}\n" + text
        text, count = re.subn(r'(?m)^name = ".*"$', f"name = {json.dumps(name, ensure_ascii=False)}", text, count=1)
        if not count:
            text += f"\n[gym]\nname = {json.dumps(name, ensure_ascii=False)}\n"
    return header + text


def _parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise common.UsageError(f"--today: expected a date like 2026-11-02, got {text!r}") from None


def _empty_file(path: Path) -> bool:
    """A 0-byte file is no database: it is created in place, like a missing one."""
    return path.is_file() and path.stat().st_size == 0


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _create_empty(path: Path) -> None:
    async with open_database(path, create=True):
        pass
