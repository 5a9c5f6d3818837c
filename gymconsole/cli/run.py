"""``gymconsole run WORKFLOW``: one run now, shown live, with approvals answered at the terminal.

``--approve`` says how approval requests are answered: ``yes`` / ``no`` answer
every request (as the OS user, via ``cli``); ``ask`` prompts on the terminal
with the plan (answer ``y``, ``n`` and a reason, or the IDs to approve only
some); without a terminal ``ask`` answers ``no``.  ``--json`` prints one JSON
object at the end instead of the live view.

Exit status: 0 the run succeeded, 1 it did not (or its summary claims acts
that did not happen), 2 bad usage or configuration, 130 interrupted (the run
is recorded as cancelled).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import threading
from typing import Any

from rich.console import Console
from rich.text import Text

from gymconsole.cli import common
from gymconsole.cli.printer import LivePrinter
from gymconsole.config import Config
from gymconsole.present.sanitize import visible
from gymconsole.present.terminal import safe_console
from gymconsole.tools.registry import Decision

EXIT_INTERRUPTED = 130
PROMPT = "Approve? y = all · n [reason] = none · or the IDs to approve, e.g. 12 15: "


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("run", help="run one workflow now and show it live",
                                   description="Run one workflow now, showing its reasoning and tool calls live.")
    parser.add_argument("workflow", help="the workflow's name, e.g. door_access")
    parser.add_argument("--dry-run", action="store_true", default=argparse.SUPPRESS,
                        help="acting tools only report what they would do")
    parser.add_argument("--offline", action="store_true", default=argparse.SUPPRESS,
                        help="run the offline playbook instead of Claude")
    parser.add_argument("--approve", choices=["ask", "yes", "no"], default="ask",
                        help="answer approval requests: ask at the terminal (no terminal: no), or always yes / no")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end instead of the live view")
    common.add_common(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    config = common.config_from(args)
    if args.workflow not in config.workflows:
        raise common.UsageError(f"unknown workflow {args.workflow!r}; known: {', '.join(sorted(config.workflows))}")
    return common.run_async(_run(args, config))


def fixed_asker(answer: str) -> Any:
    """An asker that answers every request ``yes`` or ``no``, as the OS user."""
    from gymconsole.engine.gate import current_user

    async def ask(request: Any) -> Decision:
        if answer == "yes":
            return Decision("approved", "cli", current_user(), "--approve yes")
        return Decision("denied", "cli", current_user(), "--approve no")

    return ask


async def _read_line() -> str:
    """One line from stdin without blocking the loop; the reader thread never delays exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def read() -> None:
        try:
            line = sys.stdin.readline()
        except (OSError, ValueError):
            line = ""
        loop.call_soon_threadsafe(lambda: future.done() or future.set_result(line))

    threading.Thread(target=read, name="gymconsole-prompt", daemon=True).start()
    return await future


def parse_answer(text: str, plan: Any, actor: str) -> Decision | str:
    """A typed answer as a Decision, or a one-line complaint to show before asking again."""
    words = text.strip()
    lowered = words.lower()
    if lowered in ("y", "yes"):
        return Decision("approved", "cli", actor, "approved at the terminal")
    head, _, rest = words.partition(" ")
    if head.lower() in ("n", "no"):
        return Decision("denied", "cli", actor, rest.strip() or "denied at the terminal")
    tokens = [t for t in re.split(r"[,\s]+", words) if t]
    if not tokens or not all(t.lstrip("#").isdigit() for t in tokens):
        return "answer y, n (and a reason), or the IDs to approve"
    wanted = {int(t.lstrip("#")) for t in tokens}
    by_id = {item.target_id: item.key for item in plan.items}
    unknown = sorted(wanted - set(by_id))
    if unknown:
        return f"not in this plan: {', '.join(str(i) for i in unknown)}"
    return Decision("partial", "cli", actor, f"{len(wanted)} of {len(by_id)} approved at the terminal",
                    approved_keys=frozenset(by_id[i] for i in wanted))


def terminal_asker(console: Console) -> Any:
    """Asks at the terminal: shows the plan (action, people, amounts, message) and reads the answer."""
    from gymconsole.engine.gate import current_user
    from gymconsole.plan_text import request_lines

    async def ask(request: Any) -> Decision:
        actor = current_user()
        console.print()
        for line in request_lines(request, sample=25):
            console.print(Text(visible(line)), soft_wrap=True, highlight=False)
        console.print(Text(f"(no answer within {request.timeout_seconds:g} s saves it for later)", style="dim"))
        while True:
            console.print(Text(PROMPT, style="bold"), end="")
            line = await _read_line()
            if not line:
                return Decision("denied", "cli", actor, "no answer (end of input)")
            answer = parse_answer(line, request.plan, actor)
            if isinstance(answer, Decision):
                return answer
            console.print(Text(answer, style="yellow"))

    return ask


def _asker(mode: str, console: Console) -> Any:
    if mode == "ask" and not sys.stdin.isatty():
        mode = "no"
    return terminal_asker(console) if mode == "ask" else fixed_asker(mode)


async def _run(args: argparse.Namespace, config: Config) -> int:
    main = asyncio.current_task()
    state: dict[str, Any] = {"interrupted": False, "runner": None}

    def on_sigint() -> None:
        state["interrupted"] = True
        runner = state["runner"]
        if (runner is None or not runner.cancel(args.workflow)) and main is not None:
            main.cancel()

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        handled = True
    except (NotImplementedError, AttributeError, RuntimeError):  # Windows: asyncio.run turns ^C into a cancel
        handled = False
    try:
        result = await _execute(args, config, state)
    except asyncio.CancelledError:
        if not state["interrupted"]:
            raise
        return common.fail("interrupted", EXIT_INTERRUPTED)
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)
    if args.json:
        common.print_json(result.as_dict())
    if result.status == "cancelled" and state["interrupted"]:
        return EXIT_INTERRUPTED
    return 0 if result.status == "succeeded" and not result.attention else 1


async def _execute(args: argparse.Namespace, config: Config, state: dict[str, Any]) -> Any:
    from gymconsole.engine.services import open_services

    console = safe_console(stderr=args.json)
    dry_run = True if getattr(args, "dry_run", False) else None
    async with open_services(config, asker=_asker(args.approve, console), offline=bool(getattr(args, "offline", False)),
                             dry_run=dry_run) as services:
        if not args.json:
            services.bus.subscribe(LivePrinter(console, titles={n: w.title for n, w in config.workflows.items()}))
        state["runner"] = services.runner
        return await services.runner.run(args.workflow)
