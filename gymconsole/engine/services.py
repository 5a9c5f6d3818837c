"""The one place the engine is wired together, for the CLI, the TUI and the tests.

``async with open_services(config) as services`` opens the database, marks
runs left ``running`` by a dead process as ``interrupted``, and builds the
event bus, history recorder, approval gate, workflow runner and scheduler.
The interface passes an ``asker`` (how approvals reach a person) and
subscribes to ``services.bus``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from gymconsole.clock import Clock, SystemClock
from gymconsole.config import Config, find_api_key
from gymconsole.db import Database
from gymconsole.delivery.service import DeliveryService
from gymconsole.engine.events import EventBus
from gymconsole.engine.gate import ApprovalGate, Asker
from gymconsole.engine.history import HistoryStore, RunRecorder
from gymconsole.engine.runlog import RunLogger
from gymconsole.engine.runner import WorkflowRunner
from gymconsole.engine.spend import SpendGuard
from gymconsole.engine.scheduler import WorkflowScheduler


@dataclass
class Services:
    """Everything a front end needs, already wired."""

    config: Config
    db: Database
    clock: Clock
    bus: EventBus
    history: HistoryStore
    recorder: RunRecorder
    gate: ApprovalGate
    runner: WorkflowRunner
    scheduler: WorkflowScheduler
    delivery: DeliveryService
    api_key_present: bool

    @property
    def offline(self) -> bool:
        return self.runner.offline


@asynccontextmanager
async def open_services(
    config: Config,
    *,
    db_path: Path | None = None,
    db: Database | None = None,
    clock: Clock | None = None,
    asker: Asker | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    offline: bool = False,
    dry_run: bool | None = None,
) -> AsyncIterator[Services]:
    """Open the database (unless ``db`` is already open) and build the engine; what this opened is closed on exit."""
    clock = clock or SystemClock()
    key = api_key if api_key is not None else find_api_key()
    owned = db is None
    if db is None:
        db = await Database.open(db_path or config.database_path())
    try:
        bus = EventBus()
        history = HistoryStore(db, clock)
        await history.mark_interrupted()
        recorder = RunRecorder(db, clock)
        bus.subscribe(recorder)
        bus.subscribe(RunLogger())  # the log file's one line per run start/end, act and decision
        delivery = DeliveryService(db=db, config=config, clock=clock)  # after the recorder: alerts see the finished run
        bus.subscribe(delivery)
        gate = ApprovalGate(db=db, config=config, clock=clock, bus=bus, asker=asker)
        runner = WorkflowRunner(
            db=db, config=config, clock=clock, bus=bus, gate=gate, recorder=recorder,
            api_key=key, base_url=base_url, offline=offline or not key,
            dry_run=config.safety.dry_run if dry_run is None else dry_run,
        )
        runner.spend = SpendGuard(db, config, clock,
                                  alert=delivery.alerts.send if delivery.alerts.configured else None)
        scheduler = WorkflowScheduler(config=config, db=db, clock=clock, runner=runner, history=history)
        if config.import_.watch_folder:
            from gymconsole.importer.watch import WatchFolder

            scheduler.before_run = WatchFolder(db, config, clock, alert=delivery.alerts.send).before_run
        services = Services(config, db, clock, bus, history, recorder, gate, runner, scheduler, delivery, bool(key))
        try:
            yield services
        finally:
            await scheduler.shutdown()
            await delivery.aclose()
    finally:
        if owned:
            await db.close()
