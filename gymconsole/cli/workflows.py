"""``gymconsole workflows``: each workflow's schedule, next run, paused flag, last run and Claude cost.

Reads only (no Claude, no runner): the next run is computed from the cron
schedule in ``scheduler.timezone``; a paused workflow shows when it would
run if resumed.  The cost is the mean of its last Claude runs, and per month
that times the runs its schedule makes in 30 days (a column shown when the
terminal has room; always in ``--json``).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from gymconsole.cli import common
from gymconsole.clock import SystemClock
from gymconsole.db import open_database
from gymconsole.engine.history import HistoryStore
from gymconsole.engine.scheduler import WorkflowScheduler
from gymconsole.engine.spend import workflow_costs

if TYPE_CHECKING:  # the table is drawn with Rich; --json prints without loading it
    from rich.text import Text

COST_COLUMN_WIDTH = 100
"""Narrower terminals leave the cost column out (the other columns wrap less); ``--json`` always has it."""


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
    from rich.table import Table
    from rich.text import Text

    from gymconsole.cli.history import local, status_style
    from gymconsole.present.terminal import safe_console
    from gymconsole.present.words import schedule_words, status_words

    zone = ZoneInfo(config.scheduler.timezone)
    console = safe_console()
    with_cost = console.width >= COST_COLUMN_WIDTH
    table = Table(title=Text(f"Workflows (times in {config.scheduler.timezone})"))
    table.add_column("workflow", no_wrap=True)
    table.add_column("title")
    table.add_column("schedule")
    table.add_column("next run", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("last run")
    if with_cost:
        table.add_column("AI cost/run (month)", no_wrap=True)
    for row in rows:
        next_run = row["next_run"].strftime("%a %m-%d %H:%M") if row["next_run"] else "-"
        if not row["enabled"]:
            state = Text("disabled", style="dim")
        elif row["paused"]:
            state = Text("PAUSED", style="bold yellow")
        else:
            state = Text("on", style="green")
        last = Text("never", style="dim")
        if row["last_run_id"]:
            last = Text(f"#{row['last_run_id']} {local(row['last_started_at'], zone, '%m-%d %H:%M')} ")
            last.append(status_words(row["last_status"]), style=status_style(row["last_status"]))
            if row["last_attention"]:
                last.append(", needs attention", style="bold yellow")
        schedule = schedule_words(config.workflows[row["name"]].schedule) if row["name"] in config.workflows \
            else row["schedule"]
        cells = [Text(row["name"]), Text(row["title"]), Text(schedule), Text(next_run), state, last]
        if with_cost:
            cells.append(_cost_cell(row))
        table.add_row(*cells)
    console.print(table)
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
