"""``gymconsole backup [PATH]``: a consistent copy of the database, safe while the console and service run.

Without PATH the copy goes to ``backups/`` beside the database, named with
the date and time (``gym-20261130-063000.db``); PATH may be a new file or an
existing folder.  The copy is checked (``PRAGMA integrity_check``) before the
command reports it.  To restore: stop the console and the service, move the
copy into place as the database file (and remove the old ``-wal`` and ``-shm``
files beside it), start again.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

from gymconsole.cli import common


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("backup", help="copy the database safely, even while it is in use",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common(parser)
    parser.add_argument("path", nargs="?", default=None, metavar="PATH",
                        help="where to write the copy: a new file or a folder (default: backups/ beside the database)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from gymconsole.backup import BackupError, backup_database, backup_name, default_folder

    config = common.config_from(args)
    database = config.database_path()
    if not database.is_file():
        raise common.UsageError(f"{database}: no database here (create one with `gymconsole init --demo`)")
    name = backup_name(database, datetime.now())
    if args.path is None:
        target = default_folder(database) / name
    else:
        target = Path(args.path).expanduser()
        if target.is_dir():
            target = target / name
        elif not target.parent.is_dir():
            raise common.UsageError(f"{target.parent}: no such folder")
    started = time.perf_counter()
    try:
        backup_database(database, target)
    except BackupError as exc:
        raise common.UsageError(str(exc)) from None
    except OSError as exc:
        raise common.UsageError(f"{target}: cannot write: {exc.strerror or exc}") from None
    size = target.stat().st_size
    print(f"backed up {database} to {target.resolve()} ({size / 1_000_000:.1f} MB, integrity ok) "
          f"in {time.perf_counter() - started:.1f} s")
    return 0
