"""APScheduler's own line about a skipped or missed workflow run, left out where ours records it.

A scheduled run that is skipped (the previous one still going) or missed (the loop or the computer too
late for the misfire grace time) is recorded by the scheduler once, in the history and in the log, with
its reason.  APScheduler also logs a WARNING for it; over a day of short schedules that doubled the
log.  :class:`RecordedElsewhere` drops just those two messages, and only for the jobs our listener
records (workflows, while this process holds the schedules); every other APScheduler warning stays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

SKIPPED = 'Execution of job "%s" skipped: maximum number of running instances reached (%d)'
MISSED = 'Run time of job "%s" was missed by %s'
LOGGERS = ("apscheduler.scheduler", "apscheduler.executors.default")
"""Where APScheduler 3.x logs them (the scheduler's logger; the default executor's)."""


class RecordedElsewhere(logging.Filter):
    """Drops APScheduler's skipped/missed line for a job ``recorded(job_id)`` says we record ourselves."""

    def __init__(self, recorded: Callable[[str], bool]) -> None:
        super().__init__()
        self._recorded = recorded

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg not in (SKIPPED, MISSED) or not isinstance(record.args, tuple) or not record.args:
            return True
        job_id = getattr(record.args[0], "id", None)
        return not (isinstance(job_id, str) and self._recorded(job_id))

    def install(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeFilter(self)
