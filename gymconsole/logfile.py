"""The log files beside the database: ``gymconsole.log`` (the console and the commands) and
``gymconsole-service.log`` (the headless scheduler): what happened, for a person reading it later.

* Local time with its UTC offset (``2026-11-30 06:00:02 -0500``), like the console.
* gymconsole's own lines from INFO up; other libraries' only from WARNING up
  (APScheduler's "Running job" and "Added job" lines would crowd out the day).
* Created 0600 on POSIX (it names members); rotated at ``MAX_BYTES`` with
  ``BACKUPS`` old files kept: a demo day writes about 45 KB (measured, see the
  README), so the files hold several months.
* A log that cannot be written (a full disk) costs one line on stderr, not a
  traceback per record.
"""

from __future__ import annotations

import logging
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

from gymconsole.paths import private_file
from gymconsole.present.sanitize import visible

LOG_NAME = "gymconsole.log"
SERVICE_LOG_NAME = "gymconsole-service.log"
"""The headless scheduler's own file: two processes rotating one file would trip over each other (on Windows
an open file cannot be renamed)."""
MAX_BYTES = 2_000_000
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LocalTimeFormatter(logging.Formatter):
    """Timestamps in local time with the UTC offset."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(record.created))

    def format(self, record: logging.LogRecord) -> str:
        """Control characters made visible: a name in a message cannot rewrite a ``tail -f``."""
        return visible(super().format(record), multiline=True)


class OwnLinesAndWarnings(logging.Filter):
    """gymconsole's INFO lines; other libraries' WARNING and above."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("gymconsole") or record.levelno >= logging.WARNING


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A rotating log whose files are created 0600, and that complains once when it cannot write."""

    _complained = False

    def _open(self):  # type: ignore[no-untyped-def]
        private_file(Path(self.baseFilename))
        return super()._open()

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802
        if not PrivateRotatingFileHandler._complained:
            PrivateRotatingFileHandler._complained = True
            error = sys.exc_info()[1]
            try:
                sys.stderr.write(f"gymconsole: warning: cannot write the log file {self.baseFilename} ({error}); "
                                 "carrying on without it\n")
            except (OSError, ValueError):
                pass


def file_handler(folder: Path, name: str = LOG_NAME) -> logging.Handler:
    handler = PrivateRotatingFileHandler(folder / name, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                         encoding="utf-8", delay=True)
    handler.setFormatter(LocalTimeFormatter(FORMAT))
    handler.addFilter(OwnLinesAndWarnings())
    return handler
