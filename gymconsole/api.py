"""A small Python API: the console's engine without the screen.

    from gymconsole import Console

    with Console.open("config.toml") as c:
        run = c.run("daily_campaigns", approve="no")
        for past in c.history(limit=10):
            print(past.id, past.workflow, past.status)
        answer = c.ask("who owes more than $300 and still came in this week?")

:class:`Console` is synchronous (it owns an event loop); :class:`AsyncConsole`
is the same with ``await`` (``async with await AsyncConsole.open(...) as c``),
for code that already runs an event loop.  Results are typed objects with the
same fields as the CLI's ``--json`` output (``.as_dict()`` gives that dict).

``approve`` says how acts that need a person are answered: ``"no"`` (the
default: denied), ``"yes"`` (approved, as the OS user), ``"ask"`` (nobody is
asked here: saved as pending for the manager to decide in the console or with
``gymconsole approvals``), or a function taking the request and returning True
or False.  Standing rules, guard rails and the policy apply as everywhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from gymconsole.config import Config, find_api_key, load_config
from gymconsole.engine.ask import AskResult
from gymconsole.engine.runner import RunResult
from gymconsole.tools.registry import Decision

if TYPE_CHECKING:
    from gymconsole.engine.rules import Rule

__all__ = ["AsyncConsole", "Console", "HistoryRun", "RunResult", "AskResult", "Approve"]

Approve = Union[Literal["ask", "yes", "no"], Callable[[Any], Union[bool, Awaitable[bool]]]]


@dataclass
class HistoryRun:
    """One run of the history, with the fields of ``gymconsole history --json``."""

    id: int
    workflow: str
    trigger: str
    mode: str
    dry_run: int
    status: str
    started_at: str
    ended_at: str | None = None
    iterations: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    summary: str = ""
    error: str | None = None
    pid: int | None = None
    pruned_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Columns added by later versions."""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> HistoryRun:
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in row.items() if k in names},
                   extra={k: v for k, v in row.items() if k not in names})

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {**{k: v for k, v in data.items() if k != "extra"}, **data["extra"]}


class _Answerer:
    """The engine's asker: answers approval requests the way the current call says."""

    def __init__(self, approve: Approve) -> None:
        self.approve: Approve = approve

    async def __call__(self, request: Any) -> Decision:
        from gymconsole.engine.gate import current_user

        user = current_user()
        approve = self.approve
        if callable(approve):
            verdict = approve(request)
            if asyncio.iscoroutine(verdict) or isinstance(verdict, Awaitable):
                verdict = await verdict
            return Decision("approved" if verdict else "denied", "cli", user, "answered by the Python API")
        if approve == "yes":
            return Decision("approved", "cli", user, "approve='yes' (Python API)")
        if approve == "no":
            return Decision("denied", "cli", user, "approve='no' (Python API)")
        return Decision("timed_out", "timeout", user, "saved for the manager to decide (Python API, approve='ask')")


def _check_approve(approve: Approve) -> None:
    if not callable(approve) and approve not in ("ask", "yes", "no"):
        raise ValueError(f"approve must be 'ask', 'yes', 'no' or a function, not {approve!r}")


class AsyncConsole:
    """The engine, opened on a config file: runs, questions, history, rules."""

    def __init__(self, services: Any, stack: AsyncExitStack, answerer: _Answerer) -> None:
        self._services = services
        self._stack = stack
        self._answerer = answerer
        self._assistant: Any = None

    @classmethod
    async def open(cls, config: str | Path | Config = "config.toml", *, db: str | Path | None = None,
                   api_key: str | None = None, base_url: str | None = None, offline: bool = False,
                   dry_run: bool | None = None, approve: Approve = "no") -> AsyncConsole:
        """Open the database named by the config (or ``db``) and wire the engine; close it with :meth:`close`.

        Raises ``ConfigError`` or ``DatabaseError`` (one line) for a bad config or database.
        """
        from gymconsole.engine.services import open_services

        _check_approve(approve)
        if not isinstance(config, Config):
            path = Path(config)
            _load_env(path)
            config = load_config(path)
        key = api_key if api_key is not None else (find_api_key() or "")
        answerer = _Answerer(approve)
        stack = AsyncExitStack()
        try:
            services = await stack.enter_async_context(open_services(
                config, db_path=Path(db) if db is not None else None, asker=answerer, api_key=key,
                base_url=base_url, offline=offline, dry_run=dry_run))
        except BaseException:
            await stack.aclose()
            raise
        return cls(services, stack, answerer)

    async def close(self) -> None:
        await self._stack.aclose()

    async def __aenter__(self) -> AsyncConsole:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def config(self) -> Config:
        return self._services.config

    @property
    def offline(self) -> bool:
        return bool(self._services.offline)

    def workflows(self) -> list[str]:
        return list(self._services.config.workflows)

    async def _with(self, approve: Approve | None, action: Callable[[], Awaitable[Any]]) -> Any:
        if approve is None:
            return await action()
        _check_approve(approve)
        saved, self._answerer.approve = self._answerer.approve, approve
        try:
            return await action()
        finally:
            self._answerer.approve = saved

    async def run(self, workflow: str, *, approve: Approve | None = None, dry_run: bool | None = None) -> RunResult:
        """One run of a workflow now (``UnknownWorkflow`` / ``AlreadyRunning`` before anything is recorded)."""
        return await self._with(approve, lambda: self._services.runner.run(workflow, dry_run=dry_run))

    async def ask(self, question: str, *, follow_up: int | AskResult | None = None, approve: Approve | None = None,
                  dry_run: bool | None = None) -> AskResult:
        """Ask the assistant (``NeedsClaude`` without an API key, ``AskRefused`` over a budget)."""
        from gymconsole.engine.ask import Assistant

        if self._assistant is None:
            self._assistant = Assistant(self._services)
        previous = follow_up.run_id if isinstance(follow_up, AskResult) else follow_up
        return await self._with(approve, lambda: self._assistant.ask(question, follow_up=previous, dry_run=dry_run))

    async def history(self, *, limit: int = 10, workflow: str | None = None, status: str | None = None,
                      search: str | None = None) -> list[HistoryRun]:
        rows = await self._services.history.list_runs(workflow=workflow, status=status, search=search, limit=limit)
        return [HistoryRun.from_row(row) for row in rows]

    async def rules(self, *, include_inactive: bool = False) -> list[Rule]:
        from gymconsole.engine.rules import RuleBook

        s = self._services
        return await RuleBook(s.db, s.config, s.clock).list(include_inactive=include_inactive)

    async def pending_approvals(self) -> list[dict[str, Any]]:
        return await self._services.gate.pending()


class Console:
    """:class:`AsyncConsole`, synchronous: each call runs on the console's own event loop."""

    def __init__(self, runner: asyncio.Runner, inner: AsyncConsole) -> None:
        self._runner = runner
        self.aio = inner
        """The same console, to ``await`` (only from this console's loop)."""

    @classmethod
    def open(cls, config: str | Path | Config = "config.toml", **options: Any) -> Console:
        """Like :meth:`AsyncConsole.open`; not from inside a running event loop (use AsyncConsole there)."""
        runner = asyncio.Runner()
        try:
            inner = runner.run(AsyncConsole.open(config, **options))
        except BaseException:
            runner.close()
            raise
        return cls(runner, inner)

    def close(self) -> None:
        try:
            self._runner.run(self.aio.close())
        finally:
            self._runner.close()

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def config(self) -> Config:
        return self.aio.config

    @property
    def offline(self) -> bool:
        return self.aio.offline

    def workflows(self) -> list[str]:
        return self.aio.workflows()

    def run(self, workflow: str, *, approve: Approve | None = None, dry_run: bool | None = None) -> RunResult:
        """One run of a workflow now; see :meth:`AsyncConsole.run`."""
        return self._runner.run(self.aio.run(workflow, approve=approve, dry_run=dry_run))

    def ask(self, question: str, *, follow_up: int | AskResult | None = None, approve: Approve | None = None,
            dry_run: bool | None = None) -> AskResult:
        """Ask the assistant; see :meth:`AsyncConsole.ask`."""
        return self._runner.run(self.aio.ask(question, follow_up=follow_up, approve=approve, dry_run=dry_run))

    def history(self, *, limit: int = 10, workflow: str | None = None, status: str | None = None,
                search: str | None = None) -> list[HistoryRun]:
        """The newest runs, as ``gymconsole history --json`` gives them."""
        return self._runner.run(self.aio.history(limit=limit, workflow=workflow, status=status, search=search))

    def rules(self, *, include_inactive: bool = False) -> list[Rule]:
        """The standing approval rules (``.as_dict()``: the fields of ``gymconsole rules --json``)."""
        return self._runner.run(self.aio.rules(include_inactive=include_inactive))

    def pending_approvals(self) -> list[dict[str, Any]]:
        return self._runner.run(self.aio.pending_approvals())


def _load_env(config_path: Path) -> None:
    """`.env` beside the config file, then in the working folder (never overriding the environment)."""
    from dotenv import load_dotenv

    for folder in dict.fromkeys([config_path.resolve().parent, Path.cwd().resolve()]):
        load_dotenv(folder / ".env", override=False)
