"""What the scheduler catches up at start: schedules that fell due while no gymconsole ran.

The scheduler works out the fire times since the last heartbeat (or since the old lease holder's);
these say which of them nobody ran, and how a run missed while away is worded in the history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from gymconsole.clock import iso

if TYPE_CHECKING:
    from gymconsole.db import Database
    from gymconsole.engine.lease import Lease


async def not_run(db: Database, lease: Lease, workflow: str, due: list[datetime]) -> list[datetime]:
    """Of the workflow's fire times ``due``, those no process ran (or claimed)."""
    if not await db.fetch_value("SELECT 1 FROM schedule_fires WHERE workflow = ? LIMIT 1", (workflow,)):
        # No claims yet (a database from before the lease): a run the heartbeat did not see is taken as
        # done up to its start.  With claims, they alone say what ran: a run that started late (under
        # load) must not hide the next due time it started after.
        last_scheduled = await db.fetch_value(
            "SELECT MAX(started_at) FROM runs WHERE workflow = ? AND trigger = 'schedule'", (workflow,))
        if last_scheduled:
            due = [t for t in due if iso(t) > last_scheduled]
    return [t for t in due if not await lease.claimed(workflow, t)]  # the old holder ran them


def missed_while_away(missed: list[datetime], since: datetime, local: Callable[[datetime], str]) -> str:
    """The history's reason for scheduled runs missed while no gymconsole ran (oldest first in ``missed``)."""
    count = f"{len(missed)} scheduled runs" if len(missed) > 1 else "the scheduled run"
    span = local(missed[0]) if len(missed) == 1 else f"{local(missed[0])} to {local(missed[-1])}"
    return f"{count} at {span} missed: gymconsole was not running (it last ran at {local(since)})"
