"""``gymconsole questions``: saved questions (list, save, run, delete).

``run NAME`` asks the saved question again through the assistant (the same
gate, rules and budgets as ``gymconsole ask``).  Without an API key (or with
``--offline``) it runs the read-only queries its answer used, labelled offline.
To run one on a schedule, add a workflow to config.toml whose task is the
question (see the README).
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.text import Text

from gymconsole.cli import common


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("questions", help="saved questions: list, save, run, delete",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["list", "save", "run", "delete"], nargs="?", default="list")
    parser.add_argument("name", nargs="?", help="the saved question's name (save, run, delete)")
    parser.add_argument("text", nargs="?", help="the question (save)")
    parser.add_argument("--approve", choices=["ask", "yes", "no"], default="ask",
                        help="run: answer approval requests at the terminal, or always yes / no")
    parser.add_argument("--json", action="store_true", help="print JSON")
    common.add_common(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from gymconsole.engine.saved import check_name

    if args.action != "list" and not args.name:
        raise common.UsageError(f"questions {args.action}: name the saved question")
    if args.action == "save" and not (args.text or "").strip():
        raise common.UsageError("questions save: give the question, e.g. questions save big-debts \"who owes most?\"")
    if args.name:
        try:
            check_name(args.name)
        except ValueError as exc:
            raise common.UsageError(str(exc)) from None
    config = common.config_from(args)
    return common.run_async(_handle(args, config))


async def _handle(args: argparse.Namespace, config: Any) -> int:
    from gymconsole.clock import SystemClock
    from gymconsole.db import open_database
    from gymconsole.engine.saved import SavedQuestions, UnknownQuestion

    if args.action == "run":
        return await _run(args, config)
    async with open_database(config.database_path()) as db:
        saved = SavedQuestions(db, SystemClock())
        try:
            if args.action == "save":
                await saved.save(args.name, args.text)
            elif args.action == "delete":
                await saved.delete(args.name)
            rows = await saved.list()
        except UnknownQuestion as exc:
            raise common.UsageError(str(exc)) from None
    if args.json:
        common.print_json(rows if args.action == "list" else {"status": args.action + "d", "name": args.name})
        return 0
    if args.action != "list":
        print(f"{args.action}d {args.name!r}")
        return 0
    console = Console(highlight=False)
    if not rows:
        console.print('no saved questions yet: gymconsole ask "..." --save NAME, or questions save NAME "..."')
    for row in rows:
        offline = f" · {len(row['queries'])} stored quer{'y' if len(row['queries']) == 1 else 'ies'}" \
            if row["queries"] else ""
        console.print(Text.assemble((row["name"], "bold"), f": {row['question']}", (offline, "dim")), soft_wrap=True)
    return 0


async def _run(args: argparse.Namespace, config: Any) -> int:
    from gymconsole.cli.ask import AskPrinter, table_renderable
    from gymconsole.cli.run import _asker
    from gymconsole.engine.answer import TableBlock
    from gymconsole.engine.ask import AskRefused, Assistant
    from gymconsole.engine.runner import AlreadyRunning
    from gymconsole.engine.saved import SavedQuestions, UnknownQuestion
    from gymconsole.engine.services import open_services

    console = Console(stderr=args.json, highlight=False)
    async with open_services(config, asker=_asker(args.approve, console), offline=bool(getattr(args, "offline", False))) \
            as services:
        saved = SavedQuestions(services.db, services.clock)
        try:
            question = await saved.get(args.name)
        except UnknownQuestion as exc:
            raise common.UsageError(str(exc)) from None
        assistant = Assistant(services)
        if assistant.available:
            if not args.json:
                services.bus.subscribe(AskPrinter(console))
            try:
                result = await assistant.ask(question["question"])
            except (AskRefused, AlreadyRunning) as exc:
                return common.fail(str(exc), 1)
            if args.json:
                common.print_json(result.as_dict())
            return 0 if result.status == "succeeded" else 1
        results = await saved.run_offline(args.name)
    if args.json:
        common.print_json({"name": args.name, "mode": "offline", "question": question["question"], "results": results})
        return 0 if results and not any("error" in r for r in results) else 1
    console.print(Text(f"{question['question']} (offline: the stored queries, no AI)", style="bold"), soft_wrap=True)
    if not results:
        return common.fail("this saved question has no stored queries: asking it needs Claude (set ANTHROPIC_API_KEY)", 1)
    for result in results:
        if "error" in result:
            console.print(Text(result["error"], style="red"), soft_wrap=True)
            continue
        block = TableBlock([str(c) for c in result["columns"]], [["" if v is None else str(v) for v in row]
                                                                 for row in result["rows"]])
        console.print(table_renderable(block))
        if result["more_rows"]:
            console.print(Text(f"(first {result['row_count']} rows)", style="dim"))
    return 0
