"""``gymconsole questions``: saved questions (list, save, run, delete).

``run NAME`` asks the saved question again through the assistant (the same
gate, rules and budgets as ``gymconsole ask``).  Without an API key (or with
``--offline``) it runs the read-only queries its answer used, labelled offline.
``schedule NAME --cron "0 7 * * mon"`` adds it to config.toml as a workflow
(``saved_NAME``) that the scheduler runs like any other, under the same policy.
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
    parser.add_argument("action", choices=["list", "save", "run", "delete", "schedule"], nargs="?", default="list")
    parser.add_argument("name", nargs="?", help="the saved question's name (save, run, delete)")
    parser.add_argument("text", nargs="?", help="the question (save)")
    parser.add_argument("--sql", action="append", default=[], metavar="SELECT",
                        help="save: a read-only query to keep with it, so it also runs offline (repeat for more)")
    parser.add_argument("--cron", metavar="FIELDS", help="schedule: when, as five cron fields, e.g. '0 7 * * mon'")
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
    if args.action == "schedule":
        return await _schedule(args, config)
    async with open_database(config.database_path()) as db:
        saved = SavedQuestions(db, SystemClock())
        try:
            if args.action == "save":
                await saved.save(args.name, args.text, await _checked_queries(db, args.sql))
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


async def _checked_queries(db: Any, queries: list[str]) -> list[str]:
    """Each --sql is run once through the query tool's checks: a refused one is a usage error, not a saved one."""
    import asyncio

    from gymconsole.tools.query import QueryRefused, run_query

    for sql in queries:
        try:
            await asyncio.to_thread(run_query, db.path, sql)
        except QueryRefused as exc:
            raise common.UsageError(f"--sql {sql!r}: {exc}") from None
    return queries


async def _schedule(args: argparse.Namespace, config: Any) -> int:
    """Append the saved question to config.toml as a workflow; the file is checked before it is replaced."""
    import os
    import tomllib

    from gymconsole.clock import SystemClock
    from gymconsole.config import ConfigError, parse_config
    from gymconsole.db import open_database
    from gymconsole.engine.saved import SavedQuestions, UnknownQuestion, workflow_block, workflow_name

    if not args.cron:
        raise common.UsageError('questions schedule: give --cron "MIN HOUR DAY MONTH DOW", e.g. --cron "0 7 * * mon"')
    if config.source_path is None:
        raise common.UsageError("questions schedule: no config file to add the workflow to")
    async with open_database(config.database_path()) as db:
        try:
            question = await SavedQuestions(db, SystemClock()).get(args.name)
        except UnknownQuestion as exc:
            raise common.UsageError(str(exc)) from None
    workflow = workflow_name(args.name)
    if workflow in config.workflows:
        raise common.UsageError(f"config.toml already has workflow {workflow!r}: edit or remove it there")
    try:
        block = workflow_block(args.name, question["question"], args.cron)
    except ValueError as exc:
        raise common.UsageError(str(exc)) from None
    path = config.source_path
    text = path.read_text(encoding="utf-8")
    new_text = text.rstrip("\n") + "\n" + block
    try:
        parse_config(tomllib.loads(new_text), path)
    except (tomllib.TOMLDecodeError, ConfigError) as exc:
        raise common.UsageError(f"the workflow could not be added: {exc}") from None
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(new_text, encoding="utf-8")
    os.replace(temporary, path)
    if args.json:
        common.print_json({"status": "scheduled", "name": args.name, "workflow": workflow, "cron": args.cron})
    else:
        print(f"scheduled {args.name!r} as workflow {workflow} ({args.cron}) in {path}; "
              "restart the console or the scheduler service to pick it up")
    return 0


async def _run(args: argparse.Namespace, config: Any) -> int:
    from gymconsole.cli.ask import AskPrinter
    from gymconsole.cli.run import _asker
    from gymconsole.engine.answer import TableBlock
    from gymconsole.engine.ask import AskRefused, Assistant
    from gymconsole.engine.runner import AlreadyRunning
    from gymconsole.engine.saved import SavedQuestions, UnknownQuestion
    from gymconsole.engine.services import open_services
    from gymconsole.present.tables import table_renderable

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
