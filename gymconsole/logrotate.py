"""The log file's rotation: files created 0600, and one line (not a traceback per record) when it cannot write.

Imported by :class:`gymconsole.logfile.LogFile` at the first record, not at start-up.
"""

from __future__ import annotations

import sys
from logging import LogRecord
from logging.handlers import RotatingFileHandler
from pathlib import Path

from gymconsole.paths import private_file


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A rotating log whose files are created 0600, and that complains once when it cannot write."""

    _complained = False

    def _open(self):  # type: ignore[no-untyped-def]
        private_file(Path(self.baseFilename))
        return super()._open()

    def handleError(self, record: LogRecord) -> None:  # noqa: N802
        if not PrivateRotatingFileHandler._complained:
            PrivateRotatingFileHandler._complained = True
            error = sys.exc_info()[1]
            try:
                sys.stderr.write(f"gymconsole: warning: cannot write the log file {self.baseFilename} ({error}); "
                                 "carrying on without it\n")
            except (OSError, ValueError):
                pass
