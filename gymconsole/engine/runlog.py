"""The log's account of what happened: one line per run start and end, act and approval decision.

A bus subscriber writing to the ``gymconsole.runs`` logger (the log file
beside the database).  Only what a person needs to reconstruct a day: names,
statuses, counts, short summaries on one line.  Never a key, never a message
body (tool inputs and results are not logged).
"""

from __future__ import annotations

import logging

from gymconsole.engine.events import ApprovalDecided, Event, RunFinished, RunStarted, ToolCallFinished

log = logging.getLogger("gymconsole.runs")
LIMIT = 160


def one_line(text: str | None, limit: int = LIMIT) -> str:
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in (text or "")).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class RunLogger:
    """Bus subscriber: the run events worth a line in the log file."""

    def __call__(self, event: Event) -> None:
        head = f"run #{event.run_id} {event.workflow}"
        if isinstance(event, RunStarted):
            log.info("%s started (%s, %s%s)", head, event.trigger, event.mode, ", dry run" if event.dry_run else "")
        elif isinstance(event, RunFinished):
            detail = one_line(event.error or event.summary)
            level = logging.INFO if event.status == "succeeded" else logging.WARNING
            log.log(level, "%s %s%s", head, event.status, f": {detail}" if detail else "")
        elif isinstance(event, ToolCallFinished) and event.risk != "safe":
            outcome = "error" if event.is_error else "done"
            log.info("%s act %s (%s risk) %s: %s", head, event.name, event.risk, outcome, one_line(event.summary, 120))
        elif isinstance(event, ApprovalDecided) and event.via != "policy":  # policy's own yes: the act line says it
            by = f" by {event.actor} via {event.via}" if event.actor else f" via {event.via}"
            count = f", {event.approved_count} approved" if event.status == "partial" else ""
            number = f" approval #{event.approval_id}" if event.approval_id else ""
            log.info("%s%s %s %s%s%s", head, number, event.tool, event.status, count, by)
