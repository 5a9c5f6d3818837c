"""``make bench`` section soak: weeks of runs in a few minutes, in the console and in the service.

Every workflow is scheduled every ``EVERY`` seconds (a ``second`` cron field), offline, against
a copy of the demo gym, with a short approval timeout and nobody at the desk:

* console: the real app, headless (``run_test`` at 80x24), with its real scheduler, engine,
  gate, history and delivery; a key is pressed every quarter second (press-to-handled latency)
  and each screen is opened now and then (key to the new screen painted, bench/screen_opens.py);
* service: ``python -m gymconsole scheduler --offline`` as a subprocess, its RSS and open file
  handles read from ``/proc``.

Each reports resident memory and open file handles after the first ``CHECKPOINT`` finished
runs and after the last, and the growth per run between them.  Aims: within 20 MB, flat
handles.  Linux only (``/proc``); elsewhere the section says it is skipped.

``python -m gymconsole.bench soak`` runs it alone; ``GYMCONSOLE_SOAK_RUNS`` changes the number
of runs, ``GYMCONSOLE_SOAK_CONSOLE_MINUTES`` caps the console's part (default 40; 0: no cap) and ``GYMCONSOLE_SOAK_TRACE=1`` adds the object types that grew most in the console between the
two checkpoints and the Python memory allocated after the first and still held at the last
(tracemalloc: slower, and its own memory counts in the RSS; for finding a leak).  Live-object
counts are always given: RSS alone cannot say whether growth is live objects or a heap that
did not shrink. ``GYMCONSOLE_SOAK_STALLS=1`` adds where the console's
event loop was when it answered late (bench/stalls.py: for finding what blocks keys).
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gymconsole.bench.smtp_sink import SmtpSink
from gymconsole.bench.screen_opens import busy_machine, open_each, overlapping
from gymconsole.bench.stalls import GcPauses, StallSampler
from gymconsole.config import Config, CronSchedule, load_config

ROOT = Path(__file__).resolve().parents[2]
RUNS = 500
CHECKPOINT = 50
EVERY = 3
"""Seconds between two fires of each workflow (the six are staggered over them)."""
APPROVAL_TIMEOUT = 1.0
SIZE = (80, 24)
CONSOLE_MINUTES = 40.0
"""The console's part stops here even short of ``RUNS`` (a loaded machine draws the live screen slowly)."""
MEMORY_AIM_MB = 20.0
PROGRESS_EVERY = 50
KEY_AIM_MS = 100.0
SCREENS = ("dashboard", "history", "live", "approvals")


# --- what a process uses ------------------------------------------------------------------------


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


def open_handles(pid: int | str = "self") -> int:
    """Open file descriptors of a process (files, sockets, pipes)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Sample:
    runs: int
    rss_mb: float
    handles: int
    objects: int = 0
    """Live objects the garbage collector tracks (0: not counted, another process)."""
    tasks: int = 0
    """asyncio tasks alive (0: not counted, another process)."""
    traced_mb: float | None = None
    """Python memory allocated since the first checkpoint and still held (tracemalloc; with the trace only)."""


@dataclass
class SoakReport:
    name: str
    first: Sample
    last: Sample
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def growth_mb(self) -> float:
        return self.last.rss_mb - self.first.rss_mb

    @property
    def per_run_kb(self) -> float:
        runs = self.last.runs - self.first.runs
        return self.growth_mb * 1024 / runs if runs else 0.0


# --- configuration ------------------------------------------------------------------------------


def compressed_schedules(config: Config, every: int = EVERY) -> dict[str, Any]:
    """Every workflow every ``every`` seconds, staggered; enabled."""
    workflows = {}
    for index, (name, workflow) in enumerate(config.workflows.items()):
        schedule = CronSchedule(second=f"{index % every}/{every}", minute="*", hour="*")
        workflows[name] = workflow.model_copy(update={"schedule": schedule, "enabled": True})
    return workflows


def soak_config(db: Path, *, every: int = EVERY) -> Config:
    config = load_config(ROOT / "config.toml")
    return config.model_copy(update={
        "database": config.database.model_copy(update={"path": str(db)}),
        "safety": config.safety.model_copy(update={"approval_timeout_seconds": APPROVAL_TIMEOUT,
                                                   "quiet_hours_start": "none",
                                                   "quiet_hours_end": "none"}),
        "scheduler": config.scheduler.model_copy(update={"start_paused": False, "misfire_grace_seconds": 30}),
        "workflows": compressed_schedules(config, every),
    })


def soak_config_file(folder: Path, *, every: int = EVERY, smtp_port: int | None = None) -> Path:
    """config.toml with compressed schedules, for the service subprocess (the shipped file, edited).

    With ``smtp_port`` emails leave the outbox through the sender to a server on 127.0.0.1.
    """
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    names = list(load_config(ROOT / "config.toml").workflows)
    lines, section = [], ""
    for line in text.splitlines():
        header = re.match(r"\[workflows\.(\w+)\]", line)
        if header:
            section = header.group(1)
        if line.startswith("schedule =") and section in names:
            index = names.index(section)
            line = f'schedule = {{ second = "{index % every}/{every}", minute = "*", hour = "*" }}'
        elif line.startswith("approval_timeout_seconds"):
            line = f"approval_timeout_seconds = {APPROVAL_TIMEOUT}"
        elif line.startswith("misfire_grace_seconds"):
            line = "misfire_grace_seconds = 30"
        elif line.startswith("quiet_hours_start") or line.startswith("quiet_hours_end"):
            line = line.split("=")[0] + '= "none"'
        lines.append(line)
    if smtp_port is not None:
        lines += ["", "[delivery]", 'email = "smtp"', "email_pacing = { per_hour = 100000, per_day = 1000000 }",
                  "", "[delivery.smtp]", 'host = "127.0.0.1"', f"port = {smtp_port}", 'security = "none"',
                  'from_address = "front-desk@example.com"']
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    load_config(path)  # fails loudly if the edit broke it
    return path


def fresh_folder(workdir: Path, name: str) -> Path:
    """An empty folder with a copy of the demo gym as ``gym.db`` (the log file goes beside it)."""
    from gymconsole.bench.tui import demo_database

    demo = demo_database(workdir)
    folder = (workdir / name).resolve()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copyfile(demo, folder / "gym.db")
    return folder


# --- the console ----------------------------------------------------------------------------------


async def _until(predicate: Any, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the soak stalled")
        await asyncio.sleep(0.05)


def _settled_sample(runs: int) -> Sample:
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] / 1e6 if tracemalloc.is_tracing() else None
    return Sample(runs, rss_mb(), open_handles(), len(gc.get_objects()), len(asyncio.all_tasks()), traced)


async def soak_console(db: Path, runs: int = RUNS, *, trace: bool = False, stalls: bool = False,
                       max_seconds: float | None = None) -> SoakReport:
    """The console over ``db`` (a fresh copy of the demo gym) until ``runs`` runs have finished."""
    from textual import events
    from textual.binding import Binding

    from gymconsole.engine.events import RunFinished
    from gymconsole.cli.common import setup_logging
    from gymconsole.tui.app import GymConsoleApp

    config = soak_config(db)
    setup_logging(config, terminal=False)  # as the console does: the log file beside the database
    # Times go into arrays of doubles: a float object kept per key press would be the bench's own memory in the
    # console it measures (and scattered over the allocator's pools, kept for good).
    handled = array("d")

    class ProbeApp(GymConsoleApp):
        BINDINGS = [*GymConsoleApp.BINDINGS, Binding("f12", "probe", "probe", show=False, priority=True)]

        def action_probe(self) -> None:
            handled.append(time.perf_counter())

    app = ProbeApp(config, db_path=db, offline=True, actor="soak")
    app.asker.person_active = lambda: None  # the probe's keys are not a person coming back to the desk
    finished = 0
    latencies = array("d")
    presses = array("d")
    """pressed, handled, pressed, handled, ... of each key answered (perf_counter)."""
    opens: dict[str, list[float]] = {label: [] for label in SCREENS}
    open_spans: list[tuple[float, float]] = []

    def count(event: Any) -> None:
        nonlocal finished
        if isinstance(event, RunFinished):
            finished += 1
            if finished % PROGRESS_EVERY == 0:  # a loaded machine takes long: say how far it is
                print(f"   console: {finished} runs, {rss_mb():.1f} MB, {open_handles()} handles"
                      f" [{time.perf_counter() - started:.0f} s]", flush=True)

    async def press_keys(stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(0.25)
            pressed, before = time.perf_counter(), len(handled)
            app.post_message(events.Key("f12", None))
            try:
                await _until(lambda: len(handled) > before, 30)
            except TimeoutError:
                latencies.append(30.0)  # counted as 30 s: the figures say so rather than the soak stopping
                continue
            latencies.append(handled[-1] - pressed)
            presses.extend((pressed, handled[-1]))

    async def open_screens(stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(10)
            await open_each(app, opens, open_spans)

    idle: dict[str, list[float]] = {label: [] for label in SCREENS}
    idle_busy: dict[str, list[float]] = {label: [] for label in SCREENS}
    started = time.perf_counter()
    async with app.run_test(size=SIZE):
        await _until(app.ready.is_set, 60)
        assert app.services is not None
        await app.services.scheduler.pause(None)  # the usual time first: screens opened with nothing running
        await asyncio.sleep(2)
        for _ in range(3):
            await open_each(app, idle)
            await asyncio.sleep(0.5)
        with busy_machine():  # the same, with the machine's every core busy elsewhere
            for _ in range(3):
                await open_each(app, idle_busy)
                await asyncio.sleep(0.5)
        app.services.bus.subscribe(count)
        pauses = GcPauses()
        pauses.start()
        sampler = StallSampler(asyncio.get_running_loop(), pauses) if stalls else None
        if sampler is not None:
            sampler.start()
        cpu = (time.process_time(), time.perf_counter(), os.getloadavg()[0])
        await app.services.scheduler.resume(None)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(press_keys(stop)), asyncio.create_task(open_screens(stop))]
        cap = time.perf_counter() + max_seconds if max_seconds else float("inf")
        await _until(lambda: finished >= CHECKPOINT, 24 * 3600)
        first = _settled_sample(finished)
        before = _object_counts() if trace else None
        if trace:  # from here on: what is allocated after the first checkpoint and still held at the last
            tracemalloc.start()
        await _until(lambda: finished >= runs or time.perf_counter() > cap, 24 * 3600)
        stop.set()
        await asyncio.gather(*tasks)
        if sampler is not None:
            sampler.stop()
        pauses.stop()
        cpu = (time.process_time() - cpu[0], time.perf_counter() - cpu[1], max(cpu[2], os.getloadavg()[0]))
        last = _settled_sample(finished)
        if trace:
            tracemalloc.stop()
        extra: dict[str, Any] = {"live views": len(app.traces), "screens": len(app.screen_stack),
                                 "workers": len(app.workers), "notifications": len(app._notifications)}
        if before is not None:
            after = _object_counts()
            extra["trace"] = sorted(((after[k] - before.get(k, 0), k) for k in after), reverse=True)[:20]
        skipped = await app.services.db.fetch_value("SELECT COUNT(*) FROM runs WHERE status = 'skipped'")
        pending = await app.services.db.fetch_value("SELECT COUNT(*) FROM approvals WHERE status = 'pending'")
        extra.update(skipped=skipped, pending=pending)
        extra["gc"] = pauses.report()
        answered = list(zip(presses[::2], presses[1::2]))
        extra["late through a full collection"] = overlapping(answered, pauses.full, KEY_AIM_MS / 1000)
        extra["late while opening a screen"] = overlapping(answered, open_spans, KEY_AIM_MS / 1000)
        extra["cpu"] = cpu
        if sampler is not None:
            extra["stalls"] = sampler.report()
    extra["key ms"] = [x * 1000 for x in latencies]
    extra["open ms"] = {k: [x * 1000 for x in v] for k, v in opens.items()}
    extra["idle open ms"] = {k: [x * 1000 for x in v] for k, v in idle.items()}
    extra["busy machine open ms"] = {k: [x * 1000 for x in v] for k, v in idle_busy.items()}
    extra["log bytes"] = _log_bytes(db.parent)
    return SoakReport("console", first, last, time.perf_counter() - started, extra)


def _object_counts() -> dict[str, int]:
    """Live objects by type (what grows between two checkpoints points at a leak)."""
    from collections import Counter

    gc.collect()
    return dict(Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()))


def _pct(ordered: list[float], percent: float) -> float:
    """The nearest-rank percentile of an ordered list."""
    return ordered[min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))]


def _log_bytes(folder: Path) -> int:
    """The largest of the log files (the console's and the service's) and their rotated copies (what must stay
    within the rotation size)."""
    from gymconsole.logfile import LOG_NAME, SERVICE_LOG_NAME

    return max((path.stat().st_size for name in (LOG_NAME, SERVICE_LOG_NAME) for path in folder.glob(f"{name}*")),
               default=0)


# --- the service --------------------------------------------------------------------------------------

EMAILS_PER_RUN = 2
"""Campaign emails the bench queues in the outbox after each run (the playbooks' own sends wait for a person)."""


class OutboxFeeder:
    """Queues campaign emails to contactable prospects, as an approved campaign would."""

    def __init__(self, db: Path) -> None:
        import sqlite3

        self.conn = sqlite3.connect(db, timeout=60, isolation_level=None, check_same_thread=False)
        self.prospects = [row[0] for row in self.conn.execute(
            "SELECT id FROM prospects WHERE opted_out = 0 AND stage NOT IN ('lost', 'joined') ORDER BY id")]
        self.queued = 0

    def queue(self, count: int) -> None:
        from datetime import UTC, datetime

        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        rows = []
        for _ in range(count):
            person = self.prospects[self.queued % len(self.prospects)]
            self.queued += 1
            rows.append((f"soak:{self.queued}", "campaign", "email", "prospect", person,
                         f"prospect{person}@example.com", "Come back to the gym", "A week on us.", "queued", 0, now))
        self.conn.executemany("INSERT INTO outbox (effect_key, kind, channel, person_kind, person_id, to_address,"
                              " subject, body, status, attempts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              rows)

    def close(self) -> None:
        self.conn.close()


ENDED = re.compile(r"run #\d+ \w+ (succeeded|failed|cancelled|awaiting_approval|budget_exhausted|interrupted)")


def soak_service(workdir: Path, runs: int = RUNS) -> SoakReport:
    folder = fresh_folder(workdir, "soak-service")
    db = folder / "gym.db"
    with SmtpSink() as sink:  # in a process of its own, as a mail server is (bench/smtp_sink.py)
        feeder = OutboxFeeder(db)
        config = soak_config_file(folder, smtp_port=sink.port)
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "gymconsole", "scheduler", "--config", str(config), "--db", str(db), "--offline",
             "--grace", "5"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, encoding="utf-8",
            cwd=folder, env={**os.environ, "ANTHROPIC_API_KEY": "", "CLAUDE_API_KEY": ""})
        ended = printed = 0
        samples: dict[int, Sample] = {}
        done = threading.Event()

        def read() -> None:
            nonlocal ended, printed
            assert process.stdout is not None
            for line in process.stdout:
                printed += len(line.encode("utf-8"))
                if ENDED.search(line):
                    ended += 1
                    feeder.queue(EMAILS_PER_RUN)  # sent by the service's outbox sender on its next drain
                    if ended in (CHECKPOINT, runs) and ended not in samples:
                        samples[ended] = Sample(ended, rss_mb(process.pid), open_handles(process.pid))
                    if ended >= runs:
                        done.set()
            done.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            if not done.wait(timeout=3600) or runs not in samples:
                raise RuntimeError(f"the scheduler stopped after {ended} runs (exit {process.poll()})")
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(timeout=5)
        feeder.close()
    extra = {"emails sent": sink.count, "emails queued": feeder.queued, "exit": process.returncode,
             "log bytes": _log_bytes(folder), "stdout per run": printed / max(ended, 1)}
    return SoakReport("service", samples[CHECKPOINT], samples[runs], time.perf_counter() - started, extra)


# --- the section ------------------------------------------------------------------------------------------


def _line(report: SoakReport) -> None:
    first, last = report.first, report.last
    verdict = "ok" if report.growth_mb <= MEMORY_AIM_MB and last.handles <= first.handles + 2 else "OVER AIM"
    print(f"   {report.name:<8} after {first.runs:>3} runs {first.rss_mb:7.1f} MB {first.handles:>3} handles;"
          f" after {last.runs} runs {last.rss_mb:7.1f} MB {last.handles:>3} handles;"
          f" {report.growth_mb:+.1f} MB ({report.per_run_kb:+.1f} KB/run)  {verdict}  [{report.seconds:.0f} s]")


def run(workdir: Path) -> None:
    """Print the soak's figures."""
    if not Path("/proc/self/status").exists():
        print("   soak: skipped (reads /proc; Linux only)")
        return
    runs = int(os.environ.get("GYMCONSOLE_SOAK_RUNS", RUNS))
    minutes = float(os.environ.get("GYMCONSOLE_SOAK_CONSOLE_MINUTES", CONSOLE_MINUTES)) or None
    trace = os.environ.get("GYMCONSOLE_SOAK_TRACE") == "1"
    stalls = os.environ.get("GYMCONSOLE_SOAK_STALLS") == "1"
    print(f"   every workflow every {EVERY} s, offline, approval timeout {APPROVAL_TIMEOUT:g} s, nobody at the desk;"
          f" aim: within {MEMORY_AIM_MB:g} MB, flat handles")
    from gymconsole.logfile import MAX_BYTES

    service = soak_service(workdir, runs)
    _line(service)
    print(f"   service: exit {service.extra['exit']}; largest log file {service.extra['log bytes'] / 1e6:.2f} MB"
          f" (rotates at {MAX_BYTES / 1e6:g} MB); {service.extra['stdout per run']:.0f} bytes of stdout per run;"
          f" outbox sender: {service.extra['emails sent']} of {service.extra['emails queued']} queued emails sent")
    console = asyncio.run(soak_console(fresh_folder(workdir, "soak-console") / "gym.db", runs, trace=trace,
                                       stalls=stalls, max_seconds=minutes * 60 if minutes else None))
    _line(console)
    traced = f"; Python memory allocated after the first and still held: {console.last.traced_mb:.1f} MB" \
        if console.last.traced_mb is not None else ""
    print(f"   console: live objects {console.first.objects:,} after {console.first.runs} runs,"
          f" {console.last.objects:,} after {console.last.runs}; asyncio tasks {console.first.tasks} and"
          f" {console.last.tasks}{traced}")
    if console.last.runs < runs:
        print(f"   console: stopped at the {minutes:g}-minute cap after {console.last.runs} runs")
    extra = console.extra
    keys = sorted(extra["key ms"])
    cpu_seconds, wall_seconds, load = extra["cpu"]
    if keys:
        late = sum(1 for k in keys if k >= KEY_AIM_MS)
        print(f"   console: key press to handled, {len(keys)} presses during the soak: median {_pct(keys, 50):.1f},"
              f" p99 {_pct(keys, 99):.1f}, max {keys[-1]:.1f} ms; {late} at or over {KEY_AIM_MS:g} ms"
              f" ({extra['late through a full collection']} of them waited through a full garbage collection,"
              f" {extra['late while opening a screen']} came while the soak was opening a screen)"
              f" (load average up to {load:.1f}; the console busy {cpu_seconds / wall_seconds:.0%} of one core)")
    print("   console: screen opens, key to the new screen painted (medians; bench/screen_opens.py):")
    for label in SCREENS:
        times, usual, busy = (extra[kind].get(label) for kind in ("open ms", "idle open ms", "busy machine open ms"))
        if times and usual and busy:
            print(f"   console: open {label:<9} idle {statistics.median(usual):5.0f} ms, idle with every core busy"
                  f" elsewhere {statistics.median(busy):5.0f} ms; during the soak {statistics.median(times):5.0f},"
                  f" worst {max(times):5.0f} ms ({len(times)} opens)")
    for line in extra["gc"]:
        print(f"   console: {line}")
    for line in extra.get("stalls", []):
        print(f"     {line}")
    print(f"   console at the end: {extra['live views']} live views, {extra['screens']} screens,"
          f" {extra['workers']} workers, {extra['notifications']} notices; {extra['pending']} approvals pending,"
          f" {extra['skipped']} runs skipped; largest log file {extra['log bytes'] / 1e6:.2f} MB"
          f" (rotates at {MAX_BYTES / 1e6:g} MB)")
    for grown, kind in extra.get("trace", []):
        print(f"     {grown:+8d} {kind}")
