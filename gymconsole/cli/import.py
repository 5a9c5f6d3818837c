"""``gymconsole import TABLE FILE [--dry-run] [--mapping NAME] [--rejects PATH] [--json] [--partial]``.

Brings a CSV export of the membership system into one table, matched on the
system's own IDs: importing the same file again changes nothing.  Exit 0 when
every row was imported, 1 when some rows were rejected (the others were
imported), 2 when the file cannot be used at all (then nothing changed).
``gymconsole import --template TABLE`` prints the header row and an example.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from gymconsole.cli import common
from gymconsole.importer.tables import TABLES
from gymconsole.present.words import plural

SHOWN = 10


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("import", help="import a CSV export of the membership system",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common(parser)
    parser.add_argument("table", nargs="?", choices=TABLES, metavar="TABLE", help=", ".join(TABLES))
    parser.add_argument("file", nargs="?", metavar="FILE", help="the CSV export")
    parser.add_argument("--template", choices=TABLES, metavar="TABLE", help="print TABLE's header row and an example")
    parser.add_argument("--dry-run", dest="import_dry_run", action="store_true",
                        help="check the file and report what would change; change nothing")
    parser.add_argument("--mapping", metavar="NAME", help="read the file with [import.mappings.NAME] from the config")
    parser.add_argument("--rejects", metavar="PATH", help="write the rejected rows (with line and reason) to PATH")
    parser.add_argument("--partial", action="store_true",
                        help="the file is not the whole list: nobody is marked as not in the latest export")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.template:
        if args.table or args.file:
            raise common.UsageError("--template TABLE takes no other arguments")
        from gymconsole.importer.service import template

        sys.stdout.write(template(args.template))
        return 0
    if not args.table or not args.file:
        raise common.UsageError("usage: gymconsole import TABLE FILE (or --template TABLE)")
    config = common.config_from(args)
    path = Path(args.file)
    if not path.is_file():
        raise common.UsageError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    report = common.run_async(_import(config, args, path))
    if args.json:
        common.print_json(report.as_json())
    else:
        _print(report)
    return report.exit_code


async def _import(config, args: argparse.Namespace, path: Path):  # type: ignore[no-untyped-def]
    from gymconsole.clock import SystemClock
    from gymconsole.db import open_database
    from gymconsole.importer.reader import UnusableFile
    from gymconsole.importer.service import UnknownMapping, import_file

    async with open_database(config.database_path()) as db:
        try:
            return await import_file(db, config, SystemClock(), args.table, path,
                                     dry_run=args.import_dry_run or args.dry_run, mapping=args.mapping,
                                     rejects_path=Path(args.rejects) if args.rejects else None, partial=args.partial)
        except UnknownMapping as exc:
            raise common.UsageError(str(exc)) from None
        except UnusableFile as exc:
            text = str(exc)
            raise common.UsageError(text if text.startswith(str(path)) else f"{path}: {text}") from None
        except OSError as exc:
            raise common.UsageError(f"{exc.filename or path}: {exc.strerror or exc}") from None


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _clean(text: object) -> str:
    """Text from the file shown on a terminal: no control characters or direction overrides."""
    return _CONTROL.sub("?", " ".join(str(text).split()))


def _print(report) -> None:  # type: ignore[no-untyped-def]
    prefix = "dry run, nothing changed: " if report.dry_run else ""
    print(_clean(f"{prefix}{report.summary()} ({report.file})"))
    for reject in report.rejects[:SHOWN]:
        print("  " + _clean(f"rejected line {reject['line']}: {reject['reason']}"))
    if report.rejected > SHOWN:
        print(f"  ... and {report.rejected - SHOWN:,} more rejected (--rejects PATH writes them all)")
    for conflict in report.conflicts[:SHOWN]:
        print("  " + _clean(f"kept line {conflict['line']} {conflict['name']}: {conflict['reason']}"))
    if report.missing:
        names = ", ".join(report.missing_sample)
        more = f" and {report.missing - len(report.missing_sample):,} more" if report.missing > len(report.missing_sample) else ""
        print("  " + _clean(f"not in the latest export (no acts on them until they are back): {names}{more}"))
    if report.totals_rows:
        print(f"  skipped {plural(report.totals_rows, 'totals row')}")
    if report.ignored_columns:
        print("  " + _clean(f"columns not imported: {', '.join(report.ignored_columns)[:200]}"))
