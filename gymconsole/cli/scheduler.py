"""``gymconsole scheduler``: the workflows on their schedules, headless (a service on the office PC).

Prints the next run times at start, then one line per run start, approval
request and run end.  Missed and skipped runs are logged (stderr) and
recorded in the history.  Nobody answers approvals at this terminal: a request
is saved as pending at once, for a person to decide with ``gymconsole
approvals`` or in the console.

SIGINT / SIGTERM stop it cleanly: no new run starts, runs in progress get
``--grace`` seconds to finish and are then cancelled (recorded ``cancelled``,
never left ``running``); exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gymconsole.present.sanitize import header_safe, visible
from gymconsole.cli import common
from gymconsole.config import Config
from gymconsole.db import configure_waiting
from gymconsole.db.connection import wait_note
from gymconsole.engine.events import ApprovalRequested, Event, RunFinished, RunStarted

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("scheduler", help="run the workflows on their schedules, headless",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common(parser)
    parser.add_argument("--offline", action="store_true", default=argparse.SUPPRESS,
                        help="never call Claude; run the offline playbooks")
    parser.add_argument("--dry-run", action="store_true", default=argparse.SUPPRESS,
                        help="acting tools only report what they would do")
    parser.add_argument("--grace", type=float, default=30.0, metavar="SECONDS",
                        help="on stop, how long runs in progress may take to finish (default 30)")
    # For tests and smoke checks: start runs at once, stop by itself.
    parser.add_argument("--run-now", action="append", default=[], metavar="WORKFLOW", help=argparse.SUPPRESS)
    parser.add_argument("--exit-after", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    config = common.config_from(args)
    for name in args.run_now:
        if name not in config.workflows:
            raise common.UsageError(f"unknown workflow {name!r}; known: {', '.join(sorted(config.workflows))}")
    if args.grace < 0:
        raise common.UsageError("--grace: must be 0 or more")
    from gymconsole.logfile import SERVICE_LOG_NAME

    common.setup_logging(config, terminal=True, log_name=SERVICE_LOG_NAME)
    configure_waiting(None, _ServiceWaitNote())  # the service never gives up on a busy database: it waits
    return common.run_async(serve(args, config))


class _ServiceWaitNote:
    """A waiting writer in the service: a log line when the wait starts, every minute, and when it ends."""

    def __init__(self) -> None:
        self._logged: float | None = None

    def __call__(self, seconds: float | None) -> None:
        if seconds is None:
            if self._logged is not None:
                log.warning("the database is free again")
            self._logged = None
        elif self._logged is None or seconds - self._logged >= 60:
            log.warning(wait_note(seconds))
            self._logged = seconds


def _clean(text: str | None, limit: int = 200) -> str:
    """One printable line (data from the model or the database may hold control characters)."""
    return header_safe(text or "", limit)


class RunLog:
    """Bus subscriber: one line per run start, approval request and run end."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def _print(self, text: str) -> None:
        stamp = datetime.now(self.zone).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{stamp} {visible(text)}", flush=True)

    def __call__(self, event: Event) -> None:
        head = f"run #{event.run_id} {event.workflow}"
        if isinstance(event, RunStarted):
            dry = ", dry run" if event.dry_run else ""
            self._print(f"{head} started ({event.trigger}, {event.mode}{dry})")
        elif isinstance(event, ApprovalRequested):
            self._print(f"{head}: approval #{event.approval_id} needed: {_clean(event.title)}")
        elif isinstance(event, RunFinished):
            detail = _clean(event.error or event.summary)
            self._print(f"{head} {event.status}" + (f": {detail}" if detail else ""))


def _install_stop_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> list[int]:
    """SIGINT and SIGTERM set ``stop``: through the loop on POSIX, ``signal.signal`` elsewhere (Windows)."""
    installed: list[int] = []
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        number = getattr(signal, name, None)
        if number is None:
            continue
        try:
            loop.add_signal_handler(number, stop.set)
            installed.append(number)
        except (NotImplementedError, RuntimeError, ValueError):
            signal.signal(number, lambda *_: loop.call_soon_threadsafe(stop.set))
    return installed


async def serve(args: argparse.Namespace, config: Config) -> int:
    """Serve until told to stop.  A database that is locked, full or unreadable for a while (at start or later)
    is waited out with backoff; only bad configuration (exit 2) or a stop signal ends the service."""
    from gymconsole.engine.faults import Backoff, is_transient

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = _install_stop_signals(loop, stop)
    if args.exit_after is not None:
        loop.call_later(args.exit_after, stop.set)
    backoff = Backoff(logging.getLogger("gymconsole.scheduler"), "gymconsole scheduler: cannot start", cap=60.0)
    try:
        while not stop.is_set():
            try:
                await _serve_once(args, config, stop)
                break
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await backoff.wait(exc, stop)
    finally:
        for number in installed:
            loop.remove_signal_handler(number)
    print("stopped", flush=True)
    return 0


async def _serve_once(args: argparse.Namespace, config: Config, stop: asyncio.Event) -> None:
    from gymconsole.engine.services import open_services

    zone = ZoneInfo(config.scheduler.timezone)
    dry_run = True if getattr(args, "dry_run", False) else None
    async with open_services(config, offline=bool(getattr(args, "offline", False)), dry_run=dry_run) as services:
        services.bus.subscribe(RunLog(zone))
        scheduler = services.scheduler
        scheduler.shutdown_grace_seconds = args.grace
        scheduler.lease.role = "service"
        await scheduler.start()
        mode = "offline playbooks (no AI)" if services.offline else "Claude"
        print(f"gymconsole scheduler: {len(config.workflows)} workflows, {mode}"
              f"{', dry run' if services.runner.dry_run else ''}, times in {config.scheduler.timezone}"
              f"{', ALL PAUSED' if scheduler.paused_all else ''}", flush=True)
        for job in scheduler.jobs():
            print("  " + _job_line(job), flush=True)
        for name in args.run_now:
            scheduler.run_now(name)
        await stop.wait()
        busy = services.runner.running()
        print("stopping" + (f": waiting up to {args.grace:g} s for " + ", ".join(
            f"run #{run_id} {name}" for name, run_id in busy.items()) if busy else ""), flush=True)
        await scheduler.shutdown()


def _job_line(job: dict[str, Any]) -> str:
    when = job["next_run"].strftime("%a %Y-%m-%d %H:%M %Z") if job["next_run"] else "-"
    if not job["enabled"]:
        state = "disabled"
    elif job["paused"]:
        state = f"paused (would run {when})"
    else:
        state = f"next {when}"
    return f"{job['name']:<22} {job['cron']:<22} {state}"
