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
import time
from pathlib import Path

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


class LogFile(logging.Handler):
    """The rotating log file, set up at its first record: a command that logs nothing (most listings) opens no
    file and does not import ``logging.handlers`` (a measurable part of a short command's start-up)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.baseFilename = str(path)
        self._file: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._file is None:
            from gymconsole.logrotate import PrivateRotatingFileHandler

            self._file = PrivateRotatingFileHandler(self.baseFilename, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                    encoding="utf-8", delay=True)
            self._file.setFormatter(self.formatter)
        self._file.emit(record)  # filtered here already; its own errors are its own (one line, once)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        super().close()


def file_handler(folder: Path, name: str = LOG_NAME) -> logging.Handler:
    handler = LogFile(folder / name)
    handler.setFormatter(LocalTimeFormatter(FORMAT))
    handler.addFilter(OwnLinesAndWarnings())
    return handler
