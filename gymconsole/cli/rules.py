"""``gymconsole rules``: standing approvals (list, add, revoke).

  gymconsole rules add restore_door_access --when "balance <= 0" --per-day 20 --days 30
  gymconsole rules add notify_past_due_member --when "kind = final_notice" --per-day 20 --days 90
  gymconsole rules revoke 3

A rule approves an act the policy would ask a person about, only when every
target the plan resolved meets every condition and today's limit has room;
otherwise the person is asked as before.  It never applies where the policy
says deny, nor in a dry run.  Expiry is required (at most 90 days).
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.text import Text

from gymconsole.cli import common
from gymconsole.present.words import plural


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("rules", help="standing approvals: list, add, revoke",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["list", "add", "revoke"], nargs="?", default="list")
    parser.add_argument("target", nargs="?", help="add: the acting tool, e.g. restore_door_access; revoke: the rule ID")
    parser.add_argument("--when", action="append", default=[], metavar="CONDITION",
                        help="a condition on every target, e.g. 'balance <= 0' (repeat for more); fields: balance, amount, "
                             "days_past_due, door_now, channel, person_kind, status, kind")
    parser.add_argument("--per-day", type=common.record_id, default=None, metavar="N", help="most targets a day")
    parser.add_argument("--max-amount", type=float, default=None, metavar="USD", help="most dollars a day")
    parser.add_argument("--days", type=int, default=None, metavar="N", help="expires after N days (1-90, required)")
    parser.add_argument("--note", default="", help="why (shown with the rule)")
    parser.add_argument("--all", action="store_true", help="list: include revoked and expired rules")
    parser.add_argument("--json", action="store_true", help="print JSON")
    common.add_common(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.action == "add":
        if not args.target:
            raise common.UsageError("rules add: name the acting tool, e.g. rules add restore_door_access ...")
        if args.days is None:
            raise common.UsageError("rules add: --days N is required (a rule expires within 90 days)")
    if args.action == "revoke":
        try:
            args.target = common.record_id(args.target or "")
        except argparse.ArgumentTypeError as exc:
            raise common.UsageError(f"rules revoke: give the rule ID ({exc})") from None
    config = common.config_from(args)
    return common.run_async(_handle(args, config))


async def _handle(args: argparse.Namespace, config: Any) -> int:
    from gymconsole.clock import SystemClock
    from gymconsole.db import open_database
    from gymconsole.engine.gate import current_user
    from gymconsole.engine.rules import RuleBook, RuleError

    async with open_database(config.database_path()) as db:
        book = RuleBook(db, config, SystemClock())
        try:
            if args.action == "add":
                rule = await book.add(args.target, args.when, days=args.days, max_per_day=args.per_day,
                                      max_amount_per_day=args.max_amount, note=args.note, actor=current_user())
                return _show([rule], args.json, f"added rule #{rule.id}")
            if args.action == "revoke":
                rule = await book.revoke(args.target, actor=current_user())
                return _show([rule], args.json, f"revoked rule #{rule.id}")
            return _show(await book.list(include_inactive=args.all), args.json, None)
        except RuleError as exc:
            raise common.UsageError(str(exc)) from None


def _show(rules: list[Any], as_json: bool, headline: str | None) -> int:
    from gymconsole.engine.rules import use_words

    if as_json:
        data = [rule.as_dict() for rule in rules]
        common.print_json(data if headline is None else data[0])
        return 0
    console = Console(highlight=False)
    if headline:
        console.print(headline)
    if not rules and headline is None:
        console.print("no standing rules: add one with `gymconsole rules add TOOL --when ... --per-day N --days N`")
    for rule in rules:
        state = f" · revoked by {rule.revoked_by}" if rule.revoked_at else ""
        console.print(Text.assemble((f"#{rule.id} ", "bold"), rule.describe(), (state, "yellow")), soft_wrap=True)
        if rule.note:
            console.print(Text(f"    {rule.note}", style="dim"), soft_wrap=True)
        targets = sum(use["item_count"] for use in rule.uses)
        console.print(Text(f"    approved {plural(len(rule.uses), 'act')} "
                           f"({targets} targets) · created by {rule.created_by} at {rule.created_at[:16]}", style="dim"))
        for use in rule.uses[:3]:
            console.print(Text(f"      {use['at'][:16]} {use_words(use)}: {use['detail']}",
                               style="dim"), soft_wrap=True)
    return 0
