"""Output that survives any console encoding and a reader that goes away.

* A character the console's encoding cannot carry (Windows' cp1252 when
  output is redirected, as Task Scheduler does) is replaced (``?``), never an
  error and never lost with the rest of the line.
* A closed pipe (``gymconsole ... | head``) ends printing quietly: the stream
  is pointed at the null device once, so later writes and the interpreter's
  final flush cannot raise either.  Whatever was running (a workflow run) goes
  on and is recorded as it ends; only the printing stops.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any, TextIO

_CLOSED_ERRNOS = {errno.EPIPE, errno.EINVAL}  # Windows reports a closed pipe as EINVAL


def _is_closed_pipe(exc: OSError) -> bool:
    return isinstance(exc, BrokenPipeError) or exc.errno in _CLOSED_ERRNOS


class PipeSafeStream:
    """A text stream wrapper: replaces what cannot be encoded, and goes quiet when the reader has gone."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if self.reader_gone:
            return len(text)
        try:
            return self._stream.write(text)
        except UnicodeEncodeError:
            encoding = getattr(self._stream, "encoding", None) or "ascii"
            return self.write(text.encode(encoding, "replace").decode(encoding, "replace"))
        except OSError as exc:
            if not _is_closed_pipe(exc):
                raise
            self._went_away()
            return len(text)

    def flush(self) -> None:
        if self.reader_gone:
            return
        try:
            self._stream.flush()
        except OSError as exc:
            if not _is_closed_pipe(exc):
                raise
            self._went_away()

    def _went_away(self) -> None:
        """Point the file descriptor at the null device: buffered text and the exit-time flush go nowhere."""
        self.reader_gone = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass  # not a real file (tests' capture): the reader_gone flag alone keeps it quiet

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def make_output_safe() -> None:
    """Install the wrappers on stdout and stderr (once; the CLI does this before any subcommand)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or isinstance(stream, PipeSafeStream):
            continue
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):
                pass
        setattr(sys, name, PipeSafeStream(stream))
