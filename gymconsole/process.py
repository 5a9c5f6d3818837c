"""Is a process still there?  Portable: ``os.kill(pid, 0)`` would end the process on Windows."""

from __future__ import annotations

import os
import sys


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (portable; a permission error means it does)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)  # signal 0: existence check only (POSIX)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes  # Windows only: os.kill(pid, 0) would terminate the process there

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return False
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _linux_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks since boot) from /proc, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2:].split()  # the command name may hold spaces and parentheses
    return (fields[0], fields[19]) if len(fields) > 19 else None


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _windows_started(pid: int) -> str | None:
    import ctypes  # Windows only

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return None
    try:
        times = [ctypes.c_ulonglong() for _ in range(4)]
        if not kernel32.GetProcessTimes(handle, *(ctypes.byref(t) for t in times)):
            return None
        return f"win:{times[0].value}"
    finally:
        kernel32.CloseHandle(handle)


IDENTITY_UNKNOWN = "?"
"""What :func:`process_started` says where the platform cannot tell when a process started."""


def process_started(pid: int) -> str | None:
    """When a live process started, as a comparable token; None when it is gone or a zombie.

    A process id alone is reused by the OS; (pid, start time) names one process for good.  Where the
    platform cannot tell, the answer is :data:`IDENTITY_UNKNOWN` (existence is all that can be checked).
    """
    if pid <= 0:
        return None
    if sys.platform == "win32":
        return _windows_started(pid) if _windows_pid_alive(pid) else None
    if os.path.isdir("/proc/self"):
        stat = _linux_stat(pid)
        if stat is None or stat[0] in ("Z", "X"):  # a zombie has ended; only its exit status is left
            return None
        return f"{_boot_id()}:{stat[1]}"
    return IDENTITY_UNKNOWN if pid_alive(pid) else None


def same_process_alive(pid: int | None, started: str | None) -> bool:
    """Is the process recorded as (pid, started) still running: not gone, not a zombie, its PID not reused?"""
    if not pid:
        return False
    now = process_started(pid)
    if now is None:
        return False
    if not started or now == IDENTITY_UNKNOWN or started == IDENTITY_UNKNOWN:
        return True  # recorded without a start time (older rows) or unknowable here: existence is all we have
    return now == started


_THIS: tuple[int, str | None] | None = None


def this_process() -> tuple[int, str | None]:
    """This process as (pid, start time): what a row records so that a reused PID is not taken for it."""
    global _THIS
    if _THIS is None or _THIS[0] != os.getpid():  # a forked child is another process
        _THIS = (os.getpid(), process_started(os.getpid()))
    return _THIS
