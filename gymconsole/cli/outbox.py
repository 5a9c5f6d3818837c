"""``gymconsole outbox``: see the outbox, send it now, record STOP replies, check door drift.

    gymconsole outbox [--status S] [--limit N] [--json]   counts by status and the newest messages
    gymconsole outbox send [--once] [--json]               send what may go (--once: one pass, no waiting)
    gymconsole outbox stop-reply --phone NUMBER [--json]   a STOP reply: opt the person out, fail their queue
    gymconsole outbox door-drift [--json]                  compare the door controller with the database

Exit codes: 0 done; 1 something needs a look (a message failed, no one has
that number, the doors drifted); 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any
from zoneinfo import ZoneInfo

from gymconsole.cli.history import local
from gymconsole.present.sanitize import visible
from gymconsole.present.words import message_kind_words, message_status_words, plural
from gymconsole.cli import common
from gymconsole.clock import SystemClock
from gymconsole.config import Config
from gymconsole.db import open_database
from gymconsole.delivery import outbox


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("outbox", help="see and send the outbox; STOP replies; door drift",
                                   description="The outbox of queued messages and what sends them.")
    common.add_common(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--status", choices=outbox.STATUSES, help="only messages with this status")
    parser.add_argument("--limit", type=common.record_id, default=20, help="how many messages to list (default 20)")
    parser.set_defaults(handler=_list)
    actions = parser.add_subparsers(dest="outbox_command", metavar="ACTION")

    def action(name: str, help_text: str, handler: Any) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        common.add_common(sub)
        sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
        sub.set_defaults(handler=handler)
        return sub

    send = action("send", "send queued messages now through the configured channels", _send)
    send.add_argument("--once", action="store_true", help="one pass: send what may go now, then stop")
    stop = action("stop-reply", "record a STOP reply: opt that number out and fail its queued messages", _stop)
    stop.add_argument("--phone", required=True, help="the number that replied STOP")
    action("door-drift", "compare the door controller's credentials with the database (changes nothing)", _drift)


def _json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def _list(args: argparse.Namespace) -> int:
    config = common.config_from(args)
    if args.limit < 1:
        raise common.UsageError("--limit must be at least 1")

    async def main() -> tuple[dict[str, dict[str, int]], list[dict[str, Any]]]:
        async with open_database(config.database_path()) as db:
            return await outbox.summary(db), await outbox.list_messages(db, status=args.status, limit=args.limit)

    counts, rows = common.run_async(main())
    if _json(args):
        common.print_json({"counts": counts, "messages": rows, "modes": _modes(config)})
        return 0
    for channel, by_status in counts.items():
        mode = _modes(config)[channel]
        print(f"{channel:5}  " + "  ".join(f"{message_status_words(status)} {n}" for status, n in by_status.items())
              + f"   ({mode})")
    if rows:
        print(f"\nnewest first; queued at, in {config.scheduler.timezone} (--json: every field)")
    zone = ZoneInfo(config.scheduler.timezone)
    for row in rows:
        tries = plural(row["attempts"], "try", "tries")
        print(f"#{row['id']:<5} {message_status_words(row['status']):7} {row['channel']:5} "
              f"{message_kind_words(row['kind']):12} {visible(row['to_address']):26} {tries:7} "
              f"{local(row['created_at'], zone, '%m-%d %H:%M')}")
        if row["last_error"]:
            print(f"       last error: {visible(row['last_error'])}")
    return 0


def _modes(config: Config) -> dict[str, str]:
    d = config.delivery
    return {"email": "sent by SMTP" if d.email == "smtp" else "kept in the outbox, not sent",
            "sms": "sent by the SMS gateway" if d.sms == "gateway" else "kept in the outbox, not sent"}


def _send(args: argparse.Namespace) -> int:
    config = common.config_from(args)
    from gymconsole.delivery.sender import DrainReport, OutboxSender

    stopping = False

    def stop() -> bool:
        return stopping

    def on_wait(report: DrainReport) -> None:
        if not _json(args) and report.next_due is not None:
            print(f"waiting until {report.next_due:%Y-%m-%d %H:%M:%S} UTC: " + "; ".join(report.waiting.values()),
                  flush=True)

    async def main() -> DrainReport | None:
        async with open_database(config.database_path()) as db:
            sender = OutboxSender(db, config, SystemClock())
            if not sender.enabled:
                return None
            if sys.platform != "win32":
                import asyncio

                def request_stop() -> None:
                    nonlocal stopping
                    stopping = True  # the message being sent finishes; nothing new starts

                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, request_stop)
            return await sender.drain(until_idle=not args.once, stop=stop, on_wait=on_wait)

    report = common.run_async(main())
    if report is None:
        message = 'nothing is sent: delivery.email and delivery.sms are both "outbox" (messages stay in the outbox)'
        common.print_json({"sent": 0, "note": message}) if _json(args) else print(message)
        return 0
    if _json(args):
        common.print_json(report.as_dict())
    else:
        print(visible(report.line()))
        for error in report.errors:
            print(f"  {visible(error)}")
    return 1 if report.failed else 0


def _stop(args: argparse.Namespace) -> int:
    config = common.config_from(args)

    async def main() -> outbox.StopReply:
        async with open_database(config.database_path()) as db:
            return await outbox.record_stop_reply(db, SystemClock(), args.phone)

    try:
        result = common.run_async(main())
    except ValueError as exc:
        raise common.UsageError(str(exc)) from None
    if _json(args):
        common.print_json(result.as_dict())
    elif result.matched:
        who = [f"member #{i}" for i in result.members] + [f"prospect #{i}" for i in result.prospects]
        print(f"opted out: {visible(', '.join(who))}; {plural(result.failed_messages, 'queued message')} failed as opted out")
    else:
        print(f"no member or prospect has the number {args.phone}")
    return 0 if result.matched else 1


def _drift(args: argparse.Namespace) -> int:
    config = common.config_from(args)
    if config.door_controller.kind != "http":
        raise common.UsageError('no door controller to compare with: door_controller.kind is "database"')
    from gymconsole.delivery.door import DriftReport, check_door_drift

    async def main() -> DriftReport:
        async with open_database(config.database_path()) as db:
            return await check_door_drift(db, config)

    report = common.run_async(main())
    if _json(args):
        common.print_json(report.as_dict())
    else:
        print(visible(report.line()))
        for diff in report.differences:
            print(f"  {diff['badge']}: {diff['database']} here, {diff['controller']} on the controller")
    return 0 if report.clean else 1
