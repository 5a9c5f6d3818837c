"""``gymconsole init [--demo] [--scale N] [--db PATH] [--force]``: create the gym's database.

Without ``--demo`` the database is empty (schema only).  With ``--demo`` it
holds a deterministic demo gym (``--scale N`` multiplies every count; dates
are relative to today, or ``--today YYYY-MM-DD``).  An existing file is never
replaced without ``--force``.  Prints one line with what was created.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

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
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if (args.scale is not None or args.today is not None) and not args.demo:
        raise common.UsageError("--scale and --today only apply with --demo")
    scale = 1 if args.scale is None else args.scale
    if not 1 <= scale <= MAX_SCALE:
        raise common.UsageError(f"--scale must be from 1 to {MAX_SCALE}, got {scale}")
    today = _parse_day(args.today)
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
    return 0


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
