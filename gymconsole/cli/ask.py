"""``gymconsole ask "TEXT"``: ask the assistant a question or give it a one-off task.

The answer streams as it comes; Markdown tables print as tables.  Acts ask a
person (``--approve ask``, the default; without a terminal that means no) or
are answered ``yes``/``no`` for the whole question.  ``--follow-up RUN``
continues the conversation of an earlier question (``--follow-up last``: the
latest).  ``--save NAME`` keeps the question under a name (``gymconsole
questions``).  Without an API key it says so, and lists the saved questions.

Exit status: 0 answered, 1 not (failed, budget, no API key), 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.console import Console
from rich.text import Text

from gymconsole.cli import common
from gymconsole.cli.printer import LivePrinter
from gymconsole.config import Config
from gymconsole.engine.answer import Piece, TableBlock, TableSplitter
from gymconsole.engine.events import Event, RunFinished, TextDelta
from gymconsole.present.tables import table_renderable

EXIT_INTERRUPTED = 130


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("ask", help="ask the assistant a question, or give it a one-off task",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("text", metavar="TEXT", help='the question, e.g. "who owes more than $300?"')
    parser.add_argument("--approve", choices=["ask", "yes", "no"], default="ask",
                        help="answer approval requests: ask at the terminal (no terminal: no), or always yes / no")
    parser.add_argument("--follow-up", metavar="RUN", default=None,
                        help="continue the conversation of this earlier question's run (or 'last')")
    parser.add_argument("--save", metavar="NAME", default=None, help="also save the question under this name")
    parser.add_argument("--dry-run", action="store_true", default=argparse.SUPPRESS,
                        help="acting tools only report what they would do")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end instead of the live view")
    common.add_common(parser)
    parser.set_defaults(handler=handle)




class AskPrinter(LivePrinter):
    """The live printer, with the answer's tables printed as tables and no repeated answer at the end."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.splitter = TableSplitter()

    def _pieces(self, pieces: list[Piece]) -> None:
        for piece in pieces:
            if isinstance(piece, TableBlock):
                if self._mid_line:
                    self.console.print()
                    self._mid_line = False
                self.console.print(table_renderable(piece))
            else:
                self.console.print(Text(piece), end="", soft_wrap=True, highlight=False)
                self._mid_line = not piece.endswith("\n")

    def __call__(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self._pieces(self.splitter.feed(event.text))
            return
        self._pieces(self.splitter.finish())
        if isinstance(event, RunFinished):
            event = RunFinished(event.run_id, event.workflow, status=event.status, summary="", error=event.error,
                                iterations=event.iterations)
        super().__call__(event)


def handle(args: argparse.Namespace) -> int:
    from gymconsole.engine.ask import MAX_QUESTION_CHARS

    if not args.text.strip():
        raise common.UsageError("ask: the question is empty")
    if len(args.text) > MAX_QUESTION_CHARS:
        raise common.UsageError(f"ask: the question is too long (at most {MAX_QUESTION_CHARS:,} characters)")
    config = common.config_from(args)
    follow = args.follow_up
    if follow is not None and follow != "last":
        try:
            follow = common.record_id(follow)
        except argparse.ArgumentTypeError as exc:
            raise common.UsageError(f"--follow-up: {exc}") from None
    if args.save is not None:
        from gymconsole.engine.saved import check_name

        try:
            check_name(args.save)
        except ValueError as exc:
            raise common.UsageError(f"--save: {exc}") from None
    return common.run_async(_run(args, config, follow))


async def _run(args: argparse.Namespace, config: Config, follow: int | str | None) -> int:
    from gymconsole.cli.run import _asker
    from gymconsole.engine.ask import AskRefused, Assistant, NeedsClaude
    from gymconsole.engine.runner import AlreadyRunning
    from gymconsole.engine.services import open_services

    console = Console(stderr=args.json, highlight=False)
    dry_run = True if getattr(args, "dry_run", False) else None
    async with open_services(config, asker=_asker(args.approve, console), dry_run=dry_run) as services:
        assistant = Assistant(services)
        from gymconsole.engine.saved import SavedQuestions

        if args.save is not None:
            await SavedQuestions(services.db, services.clock).save(args.save, args.text)
            console.print(Text(f"saved as {args.save!r}"), highlight=False)
        if follow == "last":
            follow = await services.db.fetch_value("SELECT MAX(run_id) FROM questions")
            if follow is None:
                return common.fail("--follow-up last: no question has been asked yet", 2)
        if not args.json:
            services.bus.subscribe(AskPrinter(console))
        try:
            result = await _ask_interruptibly(assistant, args.text, follow)
        except NeedsClaude as exc:
            return await _offline_answer(services, str(exc), args.json)
        except (AskRefused, AlreadyRunning) as exc:
            if args.json:
                common.print_json({"status": "refused", "error": str(exc)})
            return common.fail(str(exc), 1)
        except asyncio.CancelledError:
            return common.fail("interrupted", EXIT_INTERRUPTED)
        if args.save is not None:
            kept = await SavedQuestions(services.db, services.clock).save_from_run(args.save, result.run_id, args.text)
            if kept and not args.json:
                console.print(Text(f"saved {args.save!r} with {kept} quer{'y' if kept == 1 else 'ies'} "
                                   "(it also runs offline)", style="dim"), highlight=False)
    if args.json:
        common.print_json(result.as_dict())
    return 0 if result.status == "succeeded" else 1


async def _ask_interruptibly(assistant: Any, text: str, follow: Any) -> Any:
    import signal

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_sigint() -> None:
        if not assistant.cancel() and main is not None:
            main.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        handled = True
    except (NotImplementedError, AttributeError, RuntimeError):  # Windows: asyncio.run turns ^C into a cancel
        handled = False
    try:
        return await assistant.ask(text, follow_up=follow)
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)


async def _offline_answer(services: Any, message: str, as_json: bool) -> int:
    from gymconsole.engine.saved import SavedQuestions

    saved = await SavedQuestions(services.db, services.clock).list()
    if as_json:
        common.print_json({"status": "needs_claude", "error": message,
                           "saved_questions": [row["name"] for row in saved]})
        return 1
    common.fail(message, 1)
    if saved:
        print("saved questions (run one with `gymconsole questions run NAME`):")
        for row in saved:
            offline = " (runs offline)" if row["queries"] else ""
            print(f"  {row['name']}: {row['question']}{offline}")
    return 1
