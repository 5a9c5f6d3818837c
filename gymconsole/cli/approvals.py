"""``gymconsole approvals``: requests nobody answered in time, and deciding them later.

``gymconsole approvals [--json]`` lists what waits for a person, each with
exactly what it would do.  ``approvals approve ID [--only ID,ID]`` carries out
the stored plan once (only the listed targets with ``--only``), re-checked
against current data: whoever no longer qualifies (a member who paid in the
meantime) is skipped and the output says why.  ``approvals deny ID --reason
TEXT`` refuses it.  Deciding a request that is already decided is refused.
``approvals release ID [--reason TEXT]`` takes a stuck request back from the
console or process holding it (one that hangs, or whose asking or carrying out
never finishes): it waits for a person to decide afresh, and the audit log
records who released it.  Requests whose asking process has ended (or is a
zombie, or whose PID now names another process) are released by themselves.
With ``--dry-run`` (or ``safety.dry_run``) ``approve`` only shows what it
would do and decides nothing.

Exit status: 0 done; 1 refused (already decided, being asked elsewhere,
carrying it out failed, nothing to release); 2 bad usage (unknown request or target, no database).
Everything from the database is printed as plain text, never as markup.
"""

from __future__ import annotations

import argparse
import re
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.text import Text

from gymconsole.cli.history import local
from gymconsole.present.sanitize import visible
from gymconsole.present.words import approval_status_words, decision_words
from gymconsole.present.terminal import safe_console
from gymconsole.cli import common
from gymconsole.clock import SystemClock
from gymconsole.config import Config
from gymconsole.db import open_database
from gymconsole.engine.approvals import INTERRUPTED, only
from gymconsole.engine.events import EventBus
from gymconsole.engine.gate import ApprovalError, ApprovalGate, current_user
from gymconsole.plan_text import describe_plan, item_line
from gymconsole.tools.base import ActionPlan

STATUS_NOTE = {
    "pending": "",
    "released": "taken back from the process that held it",
    "interrupted": "carrying it out was interrupted: approve it again to finish exactly the targets approved then",
    "asking": "",
}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("approvals", help="requests waiting for a person; approve or deny them",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=handle, approvals_command=None)
    commands = parser.add_subparsers(dest="approvals_command", metavar="{approve,deny,release}")
    approve = commands.add_parser("approve", help="carry out a pending request (all of it, or --only some targets)")
    approve.add_argument("approval_id", type=common.record_id, metavar="ID")
    approve.add_argument("--only", metavar="ID,ID", help="approve only these targets (member/prospect/referral IDs)")
    approve.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    approve.add_argument("--dry-run", action="store_true", default=argparse.SUPPRESS,
                         help="only show what it would do; decide nothing")
    common.add_common(approve)
    deny = commands.add_parser("deny", help="refuse a pending request, with a reason")
    deny.add_argument("approval_id", type=common.record_id, metavar="ID")
    deny.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    deny.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    common.add_common(deny)
    release = commands.add_parser("release", help="take a stuck request back so a person can decide it here")
    release.add_argument("approval_id", type=common.record_id, metavar="ID")
    release.add_argument("--reason", default="", help="why (recorded in the audit log)")
    release.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    common.add_common(release)


def handle(args: argparse.Namespace) -> int:
    config = common.config_from(args)
    return common.run_async(_main(args, config))


def parse_only(text: str) -> list[int]:
    """``12,15 17`` -> [12, 15, 17]; anything else is a usage error."""
    tokens = [token for token in re.split(r"[,\s]+", text.strip()) if token]
    if not tokens or not all(token.lstrip("#").isdigit() and 0 < int(token.lstrip("#")) <= common.SQLITE_MAX_INT
                             for token in tokens):
        raise common.UsageError(f"--only: expected target IDs like 12,15, got {text!r}")
    return list(dict.fromkeys(int(token.lstrip("#")) for token in tokens))


async def _main(args: argparse.Namespace, config: Config) -> int:
    from gymconsole.engine.history import RunRecorder

    clock = SystemClock()
    console = safe_console(soft_wrap=True)
    async with open_database(config.database_path()) as db:
        bus = EventBus()
        bus.subscribe(RunRecorder(db, clock))  # later decisions join the history of the run that asked
        gate = ApprovalGate(db=db, config=config, clock=clock, bus=bus)
        if args.approvals_command is None:
            return _print_pending(console, await gate.pending(), args.json, config)
        try:
            if args.approvals_command == "release":
                outcome = await gate.release(args.approval_id, actor=current_user(), via="cli",
                                             reason=" ".join(args.reason.split()))
            elif args.approvals_command == "deny":
                reason = " ".join(args.reason.split())
                if not reason:
                    raise common.UsageError("--reason: say why")
                outcome = await gate.decide_pending(args.approval_id, False, actor=current_user(), via="cli",
                                                    reason=reason)
            else:
                keys = None
                if args.only is not None:
                    keys = await gate.keys_for(args.approval_id, parse_only(args.only))
                outcome = await gate.decide_pending(args.approval_id, True, actor=current_user(), via="cli",
                                                    keys=keys, dry_run=bool(getattr(args, "dry_run", False))
                                                    or config.safety.dry_run)
        except ApprovalError as exc:
            if exc.usage:
                raise common.UsageError(str(exc)) from None
            return common.fail(str(exc), 1)
    if getattr(args, "json", False):
        common.print_json(outcome)
    else:
        _print_outcome(console, outcome)
    return 0


def _print_pending(console: Console, rows: list[dict[str, Any]], as_json: bool, config: Config) -> int:
    if as_json:
        common.print_json([{**row, "lines": describe_plan(row["plan"])} for row in rows])
        return 0
    if not rows:
        console.print("No approval requests are waiting.")
        return 0
    zone = ZoneInfo(config.scheduler.timezone)
    for row in rows:
        run = f" · run #{row['run_id']}" if row["run_id"] else ""
        note = STATUS_NOTE.get(row["status"], "")
        workflow = config.title_of(row["workflow"])
        since = local(row["requested_at"], zone, "%a %m-%d %H:%M")
        heading = f"#{row['id']} {approval_status_words(row['status'])} since {since} · {workflow}{run}"
        console.print(Text(visible(heading + (f" ({note})" if note else "")), style="bold"))
        plan = row["plan"]
        if row["status"] == INTERRUPTED and row["approved_keys"] is not None:  # what finishing it carries out
            plan = only(ActionPlan.from_dict(plan), row["approved_keys"])
        for line in describe_plan(plan):
            console.print(Text("  " + visible(line)))
        console.print()
    console.print(Text("Decide with: gymconsole approvals approve ID [--only ID,ID]  |  "
                       "gymconsole approvals deny ID --reason TEXT", style="dim"))
    return 0


def _print_outcome(console: Console, outcome: dict[str, Any]) -> None:
    approval = f"approval #{outcome['approval_id']}"
    if outcome["status"] == "denied":
        console.print(Text(f"{approval} denied: {visible(outcome['reason'])}"))
        return
    if outcome["status"] == "released":
        console.print(Text(f"{approval} released (it was {approval_status_words(outcome['was'])}): it waits for a "
                           "person to decide: gymconsole approvals approve|deny ID"))
        return
    if outcome["status"] == "dry_run":
        console.print(Text(f"{approval}: dry run, nothing was done and it stays pending. It would do:"))
        for line in describe_plan(outcome["plan"]):
            console.print(Text("  " + visible(line)))
        return
    result = outcome["result"]
    console.print(Text(f"{approval} {decision_words(outcome['status'])}: {visible(outcome['summary'])}"))
    for entry in result.get("done", []):
        console.print(Text("  done: " + visible(item_line({k: v for k, v in entry.items()}))))
    if result.get("done_count", 0) > len(result.get("done", [])):
        console.print(Text(f"  ... and {result['done_count'] - len(result['done'])} more done"))
    if result.get("already_done_count"):
        console.print(Text(f"  already done earlier (not repeated): {result['already_done_count']}"))
    for entry in result.get("skipped", []):
        name = f"{entry.get('name', '')} (#{entry['id']})" if "id" in entry else ""
        console.print(Text(f"  skipped: {name}{': ' if name else ''}{entry.get('reason', '')}"))
    if result.get("skipped_count", 0) > len(result.get("skipped", [])):
        for reason, count in result.get("skipped_by_reason", {}).items():
            console.print(Text(f"  skipped {count}: {reason}"))
