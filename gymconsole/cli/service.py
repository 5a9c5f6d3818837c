"""``gymconsole service install | uninstall | status``: run the scheduler at start-up, restarted on failure.

``install`` writes what this platform's service manager needs (a systemd
user unit on Linux, a launchd agent on macOS, a Task Scheduler task on
Windows) to run ``gymconsole scheduler`` with this configuration, and prints
the command that turns it on; ``--enable`` runs that command too.
``--print`` shows the file without writing anything (``--platform`` shows
another platform's).  ``uninstall`` turns it off (with ``--enable``, else
prints how) and removes the file.  ``status`` says whether it is installed
and who runs the schedules now.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from gymconsole.cli import common


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from gymconsole.service import PLATFORMS

    parser = subparsers.add_parser("service", help="run the scheduler as a service at start-up",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["install", "uninstall", "status"], help="what to do")
    common.add_common(parser)
    parser.add_argument("--print", action="store_true", dest="print_only",
                        help="show the service file; write and run nothing")
    parser.add_argument("--enable", action="store_true",
                        help="also run the command that turns the service on (off, for uninstall)")
    parser.add_argument("--platform", choices=PLATFORMS, default=None,
                        help="the platform to write for (default: this one; another only with --print)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from gymconsole.service import current_platform, service_file

    platform = args.platform or current_platform()
    if platform != current_platform() and not args.print_only:
        raise common.UsageError(f"--platform {platform}: only with --print on this computer ({current_platform()})")
    if args.print_only and args.enable:
        raise common.UsageError("--print shows the file only; leave out --enable")
    config = common.config_from(args)
    if config.source_path is None:
        raise common.UsageError("the service needs a configuration file (create one with `gymconsole init`)")
    service = service_file(platform, python=sys.executable, config=config.source_path, home=Path.home())
    if args.action == "install":
        return _install(service, args)
    if args.action == "uninstall":
        return _uninstall(service, args)
    return _status(service, config)


def _install(service, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from gymconsole.service import enable_commands, shell_line

    if args.print_only:
        print(service.text, end="")
        return 0
    try:
        service.path.parent.mkdir(parents=True, exist_ok=True)
        service.path.write_text(service.text, encoding=service.encoding)
    except OSError as exc:
        raise common.UsageError(f"{service.path}: cannot write: {exc.strerror or exc}") from None
    print(f"wrote {service.path}")
    commands = enable_commands(service)
    if args.enable:
        return _run_all(commands)
    print("turn it on (starts now and at every start-up) with:")
    for command in commands:
        print(f"  {shell_line(command)}")
    if service.platform == "linux":
        print("and, to start it at boot before anyone logs in:  loginctl enable-linger")
    return 0


def _uninstall(service, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from gymconsole.service import disable_commands, shell_line

    if not service.path.exists():
        raise common.UsageError(f"not installed: {service.path} does not exist")
    if args.print_only:
        print(f"would remove {service.path} after: " + "; ".join(shell_line(c) for c in disable_commands(service)))
        return 0
    if args.enable:
        code = _run_all(disable_commands(service))
        if code:
            return code
    else:
        print("turn it off first (if it is on) with:")
        for command in disable_commands(service):
            print(f"  {shell_line(command)}")
    service.path.unlink()
    print(f"removed {service.path}")
    return 0


def _status(service, config) -> int:  # type: ignore[no-untyped-def]
    from gymconsole.engine.lease import current_holder
    from gymconsole.service import shell_line, status_commands

    installed = service.path.exists()
    print(f"service file: {service.path} ({'installed' if installed else 'not installed'})")
    print("the service manager's view: " + "; ".join(shell_line(c) for c in status_commands(service)))
    database = config.database_path()
    if not database.is_file():
        print(f"database: {database} (none yet)")
        return 0
    holder = common.run_async(_holder(database, current_holder))
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    if holder is None:
        print("schedules: no gymconsole has run them yet")
    elif holder.expires_at <= now:
        print(f"schedules: nobody runs them now (last: {holder.describe(now)})")
    else:
        print(f"schedules: run by {holder.describe(now)}")
    return 0


async def _holder(database: Path, current_holder):  # type: ignore[no-untyped-def]
    from gymconsole.db import open_database

    async with open_database(database) as db:
        return await current_holder(db)


def _run_all(commands: list[list[str]]) -> int:
    from gymconsole.service import shell_line

    for command in commands:
        print(f"$ {shell_line(command)}")
        try:
            done = subprocess.run(command, check=False)
        except OSError as exc:
            raise common.UsageError(f"{command[0]}: cannot run it: {exc.strerror or exc}") from None
        if done.returncode != 0:
            return common.fail(f"{shell_line(command)} failed (exit {done.returncode})", 1)
    return 0
