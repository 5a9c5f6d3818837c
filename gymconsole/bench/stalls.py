"""Where the event loop stalls: a watchdog thread samples the loop thread's stack while the loop is late.

The loop beats a heartbeat every ``BEAT`` seconds.  A thread looks at it every ``INTERVAL``; when the last
beat is older than ``threshold`` the loop is stuck in one callback, and the thread records what the loop's
thread is running (its innermost frames of our code and the libraries').  Time is charged to the stack seen,
so the report says where the stalled time went, not guesses.  Garbage collections are timed too
(``gc.callbacks``), by generation, since a full collection of a large heap stalls the loop the same way.

:class:`GcPauses` is cheap and always on in the soak; the sampler is for diagnosis
(``GYMCONSOLE_SOAK_STALLS=1``): its heartbeat costs the loop a little.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

BEAT = 0.01
INTERVAL = 0.005
DEPTH = 14
"""Frames kept of each sampled stack (innermost first)."""
_SLOTS = 4
"""Figures kept per generation (collections, CPU total, CPU worst, wall worst)."""


class GcPauses:
    """Every garbage collection timed, by generation (``gc.callbacks``; cheap enough to leave on).

    It keeps sums and worsts, not a record per collection: the soak's console makes about 27
    collections a run, and a tuple of two floats kept for each (13,700 over 500 runs) was memory
    the bench itself added to the console it measures, and, kept for good amid the console's
    short-lived objects, spread over the allocator's pools so that they could never be given back.
    The times go into one preallocated array, so timing a collection allocates nothing that lasts.
    """

    def __init__(self) -> None:
        self._times = array("d", bytes(8 * _SLOTS * 3 + 16))
        """Per generation: collections, CPU total, CPU worst, wall worst; then the running one's (wall, CPU) start."""
        self.full: list[tuple[float, float]] = []
        """Each full collection's (start, end) on the ``perf_counter`` clock: which late keys waited through one."""
        self.collecting: int | None = None
        """The generation being collected right now, if a collection is running."""

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        times, started = self._times, _SLOTS * 3
        if phase == "start":
            times[started], times[started + 1] = time.perf_counter(), time.thread_time()
            self.collecting = info["generation"]
            return
        self.collecting = None
        generation = info["generation"]
        now = time.perf_counter()
        wall, cpu = now - times[started], time.thread_time() - times[started + 1]
        at = generation * _SLOTS
        times[at] += 1
        times[at + 1] += cpu
        times[at + 2] = max(times[at + 2], cpu)
        times[at + 3] = max(times[at + 3], wall)
        if generation == 2:
            self.full.append((times[started], now))

    def collections(self, generation: int) -> int:
        return int(self._times[generation * _SLOTS])

    def report(self) -> list[str]:
        lines = [f"{len(gc.get_objects())} objects tracked, {gc.get_freeze_count()} of them frozen (gc_pauses.py)"]
        for generation in range(3):
            count, cpu, worst, wall_worst = self._times[generation * _SLOTS:(generation + 1) * _SLOTS]
            if count:
                lines.append(f"gc gen{generation}: {int(count)} collections; CPU total {cpu * 1000:.0f} ms,"
                             f" worst {worst * 1000:.1f} ms; wall worst {wall_worst * 1000:.0f} ms")
        return lines


@dataclass
class Stall:
    started: float
    seconds: float
    stacks: Counter[tuple[str, ...]] = field(default_factory=Counter)


class StallSampler:
    """Samples the loop thread's stack whenever its heartbeat is more than ``threshold`` late."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pauses: GcPauses, *, threshold: float = 0.05) -> None:
        self._loop = loop
        self._threshold = threshold
        self._loop_thread = threading.get_ident()
        self._beat = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stall sampler", daemon=True)
        self._handle: asyncio.TimerHandle | None = None
        self.stacks: Counter[tuple[str, ...]] = Counter()
        """Sampled stack -> seconds charged to it while the loop was late."""
        self.stalls: list[Stall] = []
        self.gc = pauses
        """Started and reported by the caller; tells the sampler when the loop is inside a collection."""

    def start(self) -> None:
        self._heartbeat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        if self._handle is not None:
            self._handle.cancel()

    def _heartbeat(self) -> None:
        self._beat = time.perf_counter()
        self._handle = self._loop.call_later(BEAT, self._heartbeat)

    def _watch(self) -> None:
        current: Stall | None = None
        while not self._stop.wait(INTERVAL):
            late = time.perf_counter() - self._beat
            if late <= self._threshold:
                if current is not None:
                    self.stalls.append(current)
                    current = None
                continue
            frame = sys._current_frames().get(self._loop_thread)
            if frame is None:
                continue
            generation = self.gc.collecting
            stack = (f"gc gen{generation}",) if generation is not None else _stack(frame)
            if current is None or current.started != self._beat:
                if current is not None:
                    self.stalls.append(current)
                current = Stall(self._beat, 0.0)
            current.seconds = late
            current.stacks[stack] += INTERVAL
            self.stacks[stack] += INTERVAL

    def report(self, top: int = 12) -> list[str]:
        lines = []
        worst = sorted(self.stalls, key=lambda s: s.seconds, reverse=True)[:top]
        lines.append(f"{len(self.stalls)} stalls over {self._threshold * 1000:.0f} ms;"
                     f" {sum(s.seconds for s in self.stalls):.1f} s in all; the worst:")
        for stall in worst:
            stack, _ = stall.stacks.most_common(1)[0]
            lines.append(f"  {stall.seconds * 1000:7.0f} ms  " + " < ".join(stack[:6]))
        lines.append("where the stalled time went (sampled):")
        for stack, seconds in self.stacks.most_common(top):
            lines.append(f"  {seconds:6.2f} s  " + " < ".join(stack))
        return lines


def _stack(frame: Any) -> tuple[str, ...]:
    names = []
    while frame is not None and len(names) < DEPTH:
        code = frame.f_code
        path = code.co_filename
        short = path.rsplit("site-packages/", 1)[-1].rsplit("gymconsole/", 1)[-1]
        names.append(f"{short}:{frame.f_lineno}:{code.co_name}")
        frame = frame.f_back
    return tuple(names)
