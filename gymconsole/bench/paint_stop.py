"""``python -m gymconsole.bench.paint_stop MODULE ARGS...``: run ``python -m MODULE ARGS`` and end the process the
moment Textual hands its terminal driver the first frame carrying the dashboard's marker (exit code 0).

For :mod:`gymconsole.bench.paint_count`: under callgrind, the count then covers exactly the work before that frame.
A bench tool, never imported by gymconsole itself.
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any

MARKER = "workflows (times in"


def _stop_at_marker() -> None:
    from textual.drivers import linux_driver

    write = linux_driver.LinuxDriver.write

    def write_or_stop(self: Any, data: str) -> None:
        if MARKER in data:
            os._exit(0)  # the frame is drawn and handed over: nothing after it is counted
        write(self, data)

    linux_driver.LinuxDriver.write = write_or_stop  # type: ignore[method-assign]


if __name__ == "__main__":
    _stop_at_marker()
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
