"""A snapshot of what the dashboard shows, loaded from the engine in one go.

The app reloads it in a worker when something changes (a run starts or
ends, an approval is decided, a workflow is paused) and publishes it to the
screens; screens never query the engine for it themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gymconsole.engine.services import Services


RECENT_RUNS = 12


@dataclass(frozen=True)
class ConsoleState:
    """Everything the dashboard needs, at one moment."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    """``scheduler.jobs()``: name, title, schedule, next_run, paused, enabled."""
    last_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    recent: list[dict[str, Any]] = field(default_factory=list)
    """The newest runs of any workflow."""
    running: dict[str, int] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)
    pending: int = 0
    asking: int = 0
    paused_all: bool = False
    scheduler_running: bool = False
    dry_run: bool = False
    offline: bool = True
    api_key_present: bool = False
    demo: bool = False
    loaded_at: datetime | None = None
    schedules_held_here: bool = True
    """Whether this console holds the scheduler lease (fires the scheduled runs)."""
    schedules_holder: Any = None
    """Otherwise the :class:`~gymconsole.engine.lease.Holder` that does, if any."""


async def count_pending(services: Services) -> int:
    """Requests waiting for a person to decide or finish (what ``gate.pending()`` lists, less those being asked).

    Read from the approval store without releasing orphans: refreshing the dashboard changes nothing.
    """
    return await services.gate.store.count_waiting()


async def load_state(services: Services, *, demo: bool, asking: int) -> ConsoleState:
    """Read the scheduler, the history and the gate into one snapshot."""
    from gymconsole.engine.lease import current_holder

    scheduler, history, runner = services.scheduler, services.history, services.runner
    holder = None if scheduler.lease.held else await current_holder(services.db)
    now = services.clock.now()
    return ConsoleState(
        jobs=list(scheduler.jobs()),
        last_runs=dict(await history.last_runs()),
        recent=list(await history.list_runs(limit=RECENT_RUNS)),
        running=dict(runner.running()),
        totals=dict(await history.today_totals(services.config.scheduler.timezone)),
        pending=await count_pending(services),
        asking=asking,
        paused_all=bool(scheduler.paused_all),
        scheduler_running=bool(scheduler.running),
        dry_run=bool(runner.dry_run),
        offline=bool(runner.offline),
        api_key_present=services.api_key_present,
        demo=demo,
        loaded_at=now,
        schedules_held_here=scheduler.lease.held,
        schedules_holder=holder,
    )
