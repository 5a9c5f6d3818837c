"""``gymconsole history``: past runs, filtered and paged; ``history show RUN`` prints one run's whole trace.

Exit codes: 0 shown; 1 no run with that id (``show``); 2 bad usage (an
unparsable ``--since``, an unknown ``--status``, a missing database).
Everything from the database is printed as plain text (never Rich markup).
"""

from __future__ import annotations

import argparse
import logging
import re
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from gymconsole.cli import common
from gymconsole.clock import SystemClock
from gymconsole.db import DatabaseBusy, DatabaseFault, open_database
from gymconsole.engine.history import STATUSES, HistoryStore

if TYPE_CHECKING:  # the tables and traces are drawn with these; --json prints without loading them
    from rich.table import Table
    from rich.text import Text

    from gymconsole.config import Config
    from gymconsole.engine.events import Event
    from gymconsole.present.run_events import RunPresenter

log = logging.getLogger(__name__)


def status_style(status: str) -> str:
    """The Rich style a run status is shown in."""
    from gymconsole.cli.printer import STATUS_STYLE

    return (STATUS_STYLE | {"missed": "yellow", "skipped": "dim", "running": "cyan"}).get(status, "")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("history", help="past runs (newest first); `history show RUN` for one run",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common(parser)
    parser.add_argument("--workflow", help="only this workflow")
    parser.add_argument("--status", help=f"only this status ({', '.join(STATUSES)})")
    parser.add_argument("--since", help="only runs started since: YYYY-MM-DD (local), an ISO time, or 3d / 12h")
    parser.add_argument("--search", help="text in the run's summary or error, or a member's or prospect's name or ID")
    parser.add_argument("--member", type=common.record_id, metavar="ID", help="only runs that touched this member")
    parser.add_argument("--limit", type=common.record_id, default=50, help="how many runs (default 50)")
    parser.add_argument("--before", type=common.record_id, metavar="RUN_ID", help="the page of runs older than this one")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.set_defaults(handler=list_handler)
    commands = parser.add_subparsers(dest="history_command", metavar="show")
    show = commands.add_parser("show", help="one run's whole trace, in order")
    common.add_common(show)
    show.add_argument("run_id", type=common.record_id, metavar="RUN_ID")
    show.add_argument("--json", action="store_true", help="print the run and its events as JSON")
    show.set_defaults(handler=show_handler)


def parse_since(text: str, zone: ZoneInfo, now: datetime) -> datetime:
    """``YYYY-MM-DD`` (local midnight), an ISO date-time (local unless it has an offset), or ``3d``/``12h``/``30m``."""
    value = text.strip()
    relative = re.fullmatch(r"(\d+)\s*([dhm])", value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        try:
            return now - timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: amount})
        except OverflowError:
            raise common.UsageError(f"--since: {text!r} reaches too far back") from None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(0), tzinfo=zone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise common.UsageError(f"--since: cannot read {text!r} (use YYYY-MM-DD, an ISO time, or 3d / 12h)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


async def close_orphans(store: HistoryStore) -> None:
    """Show runs of a crashed process as ``interrupted``, not ``running`` (left for later when the database
    cannot be written now: read-only, a full disk, busy past the bound; reading still works)."""
    try:
        await store.mark_interrupted()
    except (DatabaseFault, DatabaseBusy) as exc:
        log.warning("runs of ended processes not closed yet: %s", exc)


def list_handler(args: argparse.Namespace) -> int:
    config = common.config_from(args)
    zone = ZoneInfo(config.scheduler.timezone)
    clock = SystemClock()
    if args.status and args.status not in STATUSES:
        raise common.UsageError(f"--status: unknown status {args.status!r} (one of {', '.join(STATUSES)})")
    if args.limit < 1:
        raise common.UsageError("--limit: must be at least 1")
    since = parse_since(args.since, zone, clock.now()) if args.since else None

    async def fetch() -> list[dict[str, Any]]:
        async with open_database(config.database_path()) as db:
            store = HistoryStore(db, clock)
            await close_orphans(store)
            return await store.list_runs(
                workflow=args.workflow, status=args.status, since=since, search=args.search,
                subject=("member", args.member) if args.member is not None else None,
                limit=args.limit, before_id=args.before)

    runs = common.run_async(fetch())
    if args.json:
        common.print_json(runs)
        return 0
    from gymconsole.present.terminal import safe_console

    console = safe_console()
    console.print(runs_table(runs, config, console.width))
    if len(runs) == args.limit:
        print(f"(more: --before {runs[-1]['id']})")
    return 0


def local(value: str | None, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC timestamp in the gym's local time."""
    if not value:
        return ""
    return datetime.fromisoformat(value).replace(tzinfo=UTC).astimezone(zone).strftime(fmt)


def run_duration(run: dict[str, Any]) -> str:
    if not run.get("ended_at"):
        return ""
    seconds = (datetime.fromisoformat(run["ended_at"]) - datetime.fromisoformat(run["started_at"])).total_seconds()
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def run_tokens(run: dict[str, Any]) -> int:
    """Every token the run processed, cached or not (with caching most input is read from the cache)."""
    keys = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    return sum(run.get(key) or 0 for key in keys)


def runs_table(runs: list[dict[str, Any]], config: Config, width: int = 120) -> Table:
    """Fixed columns keep their full width; the summary takes what is left (and is cut with an ellipsis)."""
    from rich.table import Table
    from rich.text import Text

    from gymconsole.present.sanitize import visible
    from gymconsole.present.words import cost, status_words

    zone = ZoneInfo(config.scheduler.timezone)
    rows = []
    for run in runs:
        how = f"{run['trigger']}/{'AI' if run['mode'] == 'claude' else 'offline'}" + (" dry" if run["dry_run"] else "")
        text = run["error"] or run["summary"] or ""
        if run.get("attention"):
            text = f"attention: {run['attention']}; {text}"
        rows.append([
            Text(str(run["id"])), Text(visible(run["workflow"])), Text(how),
            Text("needs attention", style="bold yellow") if run.get("attention") else
            Text(status_words(run["status"]), style=status_style(run["status"])),
            Text(local(run["started_at"], zone, "%m-%d %H:%M")), Text(run_duration(run)),
            Text(f"{run_tokens(run):,}"), Text(cost(run["cost_usd"])),
            Text(" ".join(visible(text).split())[:300])])
    table = Table(title=Text(f"Runs (times in {config.scheduler.timezone})"), expand=True)
    headers = ["#", "workflow", "how", "status", "started", "took", "tokens", "cost"]
    widths = {h: max([len(h)] + [len(row[i].plain) for row in rows]) for i, h in enumerate(headers)}
    shown = list(headers)
    for optional in ("took", "how", "tokens", "cost"):  # narrow terminal: drop these first
        if sum(widths[h] + 3 for h in shown) + 24 <= width:
            break
        shown.remove(optional)
    for header in shown:
        table.add_column(header, justify="right" if header in ("#", "took", "tokens", "cost") else "left",
                         no_wrap=True, min_width=widths[header])
    table.add_column("summary", no_wrap=True, overflow="ellipsis", ratio=1)
    for row in rows:
        table.add_row(*(row[headers.index(h)] for h in shown), row[-1])
    if not runs:
        table.caption = "no runs match"
    return table


def show_handler(args: argparse.Namespace) -> int:
    config = common.config_from(args)
    clock = SystemClock()

    async def fetch() -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        async with open_database(config.database_path()) as db:
            store = HistoryStore(db, clock)
            await close_orphans(store)
            run = await store.get_run(args.run_id)
            return run, (await store.event_records(args.run_id) if run else [])

    run, records = common.run_async(fetch())
    if run is None:
        return common.fail(f"no run #{args.run_id}", 1)
    if args.json:
        common.print_json({"run": run, "events": [{"seq": r["seq"], "at": r["at"], **r["event"].to_dict()}
                                                  for r in records]})
        return 0
    from gymconsole.present.terminal import safe_console

    console = safe_console()
    flow = config.workflows.get(run["workflow"])
    for line in trace_lines(run, records, ZoneInfo(config.scheduler.timezone), flow.title if flow else ""):
        console.print(line)
    return 0


def trace_lines(run: dict[str, Any], records: list[dict[str, Any]], zone: ZoneInfo,
                title: str = "") -> list[Text]:
    """The run's header and every event in order, in the presenter's words with the raw detail under them."""
    from rich.text import Text

    from gymconsole.present.run_events import RunPresenter, mode_words, trigger_words
    from gymconsole.present.sanitize import visible
    from gymconsole.present.words import cost, plural, status_words

    head = Text(f"Run #{run['id']} {visible(title or run['workflow'])}", style="bold")
    head.append(f"  {status_words(run['status'])}", style=status_style(run["status"]))
    lines = [head, Text(
        f"{visible(run['workflow'])} · {trigger_words(run['trigger'])} · {mode_words(run['mode'])}"
        f"{' · dry run' if run['dry_run'] else ''}; started "
        f"{local(run['started_at'], zone, '%Y-%m-%d %H:%M:%S %Z')}"
        + (f", ended {local(run['ended_at'], zone, '%H:%M:%S')}" if run["ended_at"] else "")
        + f"; {plural(run['iterations'] or 0, 'step')}; AI cost {cost(run['cost_usd'])} (tokens in "
        f"{run['input_tokens']:,}, out {run['output_tokens']:,}, cache read {run['cache_read_tokens']:,}, "
        f"cache write {run['cache_write_tokens']:,})", style="dim")]
    if run.get("subjects"):
        lines.append(Text("touched: " + ", ".join(f"{visible(k)} {visible(i)}" for k, i in run["subjects"][:50]),
                          style="dim"))
    if run.get("pruned_at") and not records:
        lines.append(Text(f"(events pruned {local(run['pruned_at'], zone)} under the retention setting)"))
    presenter = RunPresenter(detail=True, title=title)
    for record in records:
        stamp = Text(local(record["at"], zone, "%H:%M:%S") + "  ", style="dim")
        for body in describe(presenter, record["event"]):
            lines.append(stamp + body)
            stamp = Text(" " * 10)
    return lines


def describe(presenter: RunPresenter, event: Event) -> list[Text]:
    """One event as one or more lines (narration keeps its own line breaks)."""
    from rich.text import Text

    from gymconsole.engine.events import TextDelta
    from gymconsole.present.terminal import rich_line

    if isinstance(event, TextDelta):
        return [Text(part) for part in (presenter.narration(event).strip("\n").splitlines() or [""])]
    return [rich_line(line) for line in presenter.lines(event)]
