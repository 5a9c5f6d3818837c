"""``gymconsole workflows``: each workflow's schedule, next run, paused flag, last run and Claude cost.

Reads only (no Claude, no runner): the next run is computed from the cron
schedule in ``scheduler.timezone``; a paused workflow shows when it would
run if resumed.  The cost is the mean of its last Claude runs, and per month
that times the runs its schedule makes in 30 days (a column shown when the
terminal has room; always in ``--json``).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from gymconsole.cli import common
from gymconsole.clock import SystemClock
from gymconsole.db import open_database
from gymconsole.engine.history import HistoryStore
from gymconsole.engine.scheduler import WorkflowScheduler
from gymconsole.engine.spend import workflow_costs

if TYPE_CHECKING:  # the table is drawn with Rich, imported where it is drawn: --json prints without loading it
    from rich.text import Text

COST_COLUMN_WIDTH = 100
"""Narrower terminals leave the cost column out (the other columns wrap less); ``--json`` always has it."""


WIDE_COLUMNS = 110
"""From this width the table has every column; narrower (an 80-column window) it keeps one line a workflow."""


def _state(row: dict[str, Any]) -> Text:
    from rich.text import Text

    if not row["enabled"]:
        return Text("disabled", style="dim")
    if row["paused"]:
        return Text("PAUSED", style="bold yellow")
    return Text("on", style="green")


def _next_run(row: dict[str, Any], narrow: bool) -> Text:
    from rich.text import Text

    when = row["next_run"]
    if when is None:
        return Text("-")
    if narrow:
        soon = (when.date() - datetime.now(when.tzinfo).date()).days < 7
        return Text(when.strftime("%a %H:%M" if soon else "%m-%d %H:%M"))
    return Text(when.strftime("%a %m-%d %H:%M"))


def _last(row: dict[str, Any], zone: ZoneInfo, narrow: bool) -> Text:
    from rich.text import Text

    from gymconsole.cli.history import local, status_style
    from gymconsole.present.words import status_words

    if not row["last_run_id"]:
        return Text("never run", style="dim")
    last = Text() if narrow else Text(f"#{row['last_run_id']} {local(row['last_started_at'], zone, '%m-%d %H:%M')} ")
    last.append(status_words(row["last_status"]), style=status_style(row["last_status"]))
    if row.get("last_attention"):
        last.append(", needs attention", style="bold yellow")
    return last


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("workflows", help="the workflows: schedule, next run, paused, last run",
                                   description=__doc__)
    common.add_common(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(handler=handle)


async def collect(config: Any) -> list[dict[str, Any]]:
    """One dict per configured workflow, in config order."""
    clock = SystemClock()
    async with open_database(config.database_path()) as db:
        history = HistoryStore(db, clock)
        scheduler = WorkflowScheduler(config=config, db=db, clock=clock, runner=None, history=history)
        await scheduler.load()
        last = await history.last_runs()
        per_run, per_month = await workflow_costs(db, config, clock.now())
        out = []
        for job in scheduler.jobs():
            run = last.get(job["name"])
            out.append({
                "name": job["name"], "title": job["title"], "schedule": job["cron"], "timezone": job["timezone"],
                "enabled": job["enabled"], "paused": job["paused"], "paused_all": scheduler.paused_all,
                "next_run": job["next_run"],
                "last_run_id": run["id"] if run else None, "last_status": run["status"] if run else None,
                "last_started_at": run["started_at"] if run else None,
                "last_ended_at": run["ended_at"] if run else None,
                "last_attention": run.get("attention") if run else None,
                "cost_per_run_usd": per_run.get(job["name"]), "cost_per_month_usd": per_month.get(job["name"]),
            })
        return out


def handle(args: argparse.Namespace) -> int:
    config = common.config_from(args)
    rows = common.run_async(collect(config))
    if args.json:
        common.print_json([row | {"next_run": row["next_run"].isoformat() if row["next_run"] else None}
                           for row in rows])
        return 0
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from gymconsole.present.terminal import safe_console
    from gymconsole.present.words import schedule_words

    zone = ZoneInfo(config.scheduler.timezone)
    console = safe_console()
    narrow = console.width < WIDE_COLUMNS
    with_cost = not narrow and console.width >= COST_COLUMN_WIDTH
    table = Table(title=Text(f"Workflows (times in {config.scheduler.timezone})"),
                  box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD, pad_edge=not narrow)
    table.add_column("workflow", no_wrap=True)
    if not narrow:
        table.add_column("title")
    table.add_column("schedule")
    table.add_column("next run", no_wrap=True)
    if not narrow:
        table.add_column("state", no_wrap=True)
    table.add_column("last run")
    if with_cost:
        table.add_column("AI cost/run (month)", no_wrap=True)
    for row in rows:
        schedule = schedule_words(config.workflows[row["name"]].schedule) if row["name"] in config.workflows \
            else row["schedule"]
        state = _state(row)
        next_run = _next_run(row, narrow)
        if narrow:  # one column says when: the next run, or why there is none
            table.add_row(Text(row["name"]), Text(schedule), next_run if row["enabled"] and not row["paused"]
                          else state, _last(row, zone, narrow))
        else:
            cells = [Text(row["name"]), Text(row["title"]), Text(schedule), next_run, state, _last(row, zone, narrow)]
            if with_cost:
                cells.append(_cost_cell(row))
            table.add_row(*cells)
    console.print(table)
    if narrow:
        console.print(Text(f"Titles, run numbers, times, AI cost: --json or a window {WIDE_COLUMNS}+ columns wide.",
                           style="dim"))
    if rows and rows[0]["paused_all"]:
        console.print(Text("All schedules are paused (the console's master switch).", style="yellow"))
    return 0


def _cost_cell(row: dict[str, Any]) -> Text:
    """``$0.0072 ($6.48)``; "no AI runs yet" without Claude runs in its history."""
    from rich.text import Text

    from gymconsole.present.words import cost, money

    if row["cost_per_run_usd"] is None:
        return Text("no AI runs yet", style="dim")
    text = Text(cost(row["cost_per_run_usd"]))
    if row["cost_per_month_usd"] is not None:
        text.append(f" ({money(row['cost_per_month_usd'])})", style="dim")
    return text
