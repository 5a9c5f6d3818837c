"""The fault suite: the product driven through what an office PC does to it, with real processes.

A process holding the write lock, a full filesystem (a 4 MB tmpfs in a private mount namespace where the
machine allows one; otherwise SQLite's own SQLITE_FULL from a page limit), a door controller that drips
one byte at a time, an asker killed with SIGKILL, an asker whose PID now names another process.  Each
checks that nothing is lost, nothing happens twice, and every message is one line.  The DST days have
their own module (test_scheduler_dst.py).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_safety import ROOT, build_world, count, gymconsole_env

pytestmark = pytest.mark.slow

BUSY_WAIT = 2


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    template, config = build_world(tmp_path_factory.mktemp("faults"))
    text, found = re.subn(r"(?m)^busy_wait_seconds = .*$", f"busy_wait_seconds = {BUSY_WAIT}",
                          config.read_text(encoding="utf-8"))
    assert found == 1
    config.write_text(text, encoding="utf-8")
    return template, config


def gymconsole(db: Path, config: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gymconsole", *args, "--db", str(db), "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=gymconsole_env())


def one_line_failure(proc: subprocess.CompletedProcess[str], text: str) -> str:
    """Exit 1, no traceback, and the reason as the last line (any earlier lines are waiting notes)."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-500:], proc.stderr[-500:])
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr and lines and text in lines[-1], proc.stderr
    assert all(line.startswith("gymconsole: ") for line in lines), proc.stderr
    return lines[-1]


def fresh(world: tuple[Path, Path], tmp_path: Path) -> Path:
    db = tmp_path / "gym.db"
    shutil.copyfile(world[0], db)
    return db


def suspendable(db: Path, how_many: int) -> list[int]:
    """Members the door_access playbook would suspend (past due long enough, owing enough, still active)."""
    ids = [row[0] for row in sqlite3.connect(db).execute(
        "SELECT m.id FROM members m JOIN door_credentials d ON d.member_id = m.id WHERE m.status = 'active' "
        "AND d.access_state = 'active' AND m.balance_cents >= 10000 AND m.past_due_since <= date('now', '-30 days') "
        "ORDER BY m.id")]
    assert len(ids) >= how_many
    return ids[:how_many]


# --- a long write lock ----------------------------------------------------------------------------


def hold_write_lock(db: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys\n"
        f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE'); print('held', flush=True); sys.stdin.readline(); c.execute('ROLLBACK')")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_long_write_lock_is_waited_out_visibly_then_one_line(world: tuple[Path, Path], tmp_path: Path) -> None:
    db = fresh(world, tmp_path)
    holder = hold_write_lock(db)
    try:
        listing = gymconsole(db, world[1], "history")  # reading never waits for a writer
        assert listing.returncode == 0 and listing.stderr == "", listing.stderr
        started = time.monotonic()
        run = gymconsole(db, world[1], "run", "door_access", "--offline", "--approve", "yes")
        waited = time.monotonic() - started
        last = one_line_failure(run, f"the database is locked: another gymconsole was writing for {BUSY_WAIT} s")
        assert "nothing was changed" in last
        assert "gymconsole: waiting for the database: another gymconsole is writing (1 s)" in run.stderr
        assert waited < BUSY_WAIT + 20  # bounded (process start-up included)
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=10)
    assert count(db, "SELECT COUNT(*) FROM runs") == 0  # nothing half-recorded


# --- a full disk ------------------------------------------------------------------------------------


def private_mounts() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt 2>/dev/null || "
                            "mount -t tmpfs -o size=1m tmpfs \"$0\"", str(Path.cwd())], capture_output=True)
    return probe.returncode == 0


FULL_DISK_SCRIPT = r"""
set -u
disk="$1"; world="$2"; out="$3"; shift 3
mount -t tmpfs -o size=4m tmpfs "$disk"
cp "$world/gym.db" "$disk/gym.db"
free=$(df -k "$disk" | tail -1 | awk '{print $4}')
dd if=/dev/zero of="$disk/filler" bs=1k count=$((free - 250)) 2>/dev/null
g() { "$PY" -m gymconsole "$@" --db "$disk/gym.db" --config "$world/config.toml"; }
for i in 1 2; do g run door_access --offline --approve yes >"$out/run$i.out" 2>"$out/run$i.err"; echo $? >"$out/run$i.rc"; done
g history --json >"$out/full-history.out" 2>"$out/full-history.err"; echo $? >"$out/full-history.rc"
rm "$disk/filler"
g history --json >"$out/history.out" 2>"$out/history.err"; echo $? >"$out/history.rc"
cp "$disk"/gym.db* "$out/"
"""


def test_a_full_disk_is_one_line_and_leaves_nothing_open(world: tuple[Path, Path], tmp_path: Path) -> None:
    if not private_mounts():
        pytest.skip("no private mount namespace here (unshare -rm): see test_sqlite_full_without_a_mount")
    stage, disk, out = tmp_path / "stage", tmp_path / "disk", tmp_path / "out"
    for folder in (stage, disk, out):
        folder.mkdir()
    shutil.copyfile(world[0], stage / "gym.db")
    shutil.copyfile(world[1], stage / "config.toml")
    env = {**gymconsole_env(), "PY": sys.executable}
    subprocess.run(["unshare", "-rm", "sh", "-c", FULL_DISK_SCRIPT, "sh", str(disk), str(stage), str(out)],
                   cwd=ROOT, env=env, check=True, timeout=240)
    for i in (1, 2):
        rc, err = (out / f"run{i}.rc").read_text().strip(), (out / f"run{i}.err").read_text()
        assert rc == "1" and "Traceback" not in err, err
        lines = err.strip().splitlines()  # each message one line: the reason, or the run's failure saying it
        assert len(lines) <= 2 and all(line.startswith("gymconsole: ") for line in lines), err
        assert "the disk is full" in err + (out / f"run{i}.out").read_text()
    full_rc = (out / "full-history.rc").read_text().strip()
    assert full_rc == "0", (out / "full-history.err").read_text()  # reading still works on a full disk
    assert (out / "history.rc").read_text().strip() == "0", (out / "history.err").read_text()
    runs = json.loads((out / "history.out").read_text())
    assert runs and all(r["status"] != "running" for r in runs)  # closed at the next start once there was room
    db = out / "gym.db"
    # nothing half-written reported as done: every door change done has its ledger entry and vice versa
    assert count(db, "SELECT COUNT(*) FROM door_changes") == count(
        db, "SELECT COUNT(*) FROM effects WHERE action IN ('suspend_door_access', 'restore_door_access') "
            "AND status = 'done'")
    assert count(db, "SELECT COUNT(*) FROM effects WHERE status = 'pending'") == 0


async def test_sqlite_full_without_a_mount(world: tuple[Path, Path], tmp_path: Path) -> None:
    """Where no filesystem can be filled, SQLite's own SQLITE_FULL (a page limit) gives the same one line."""
    from gymconsole.db import Database, DatabaseFault

    db_path = fresh(world, tmp_path)
    db = await Database.open(db_path)
    try:
        pages = await db.fetch_value("PRAGMA page_count")
        await db.fetch_value(f"PRAGMA max_page_count = {pages}")
        before = await db.fetch_value("SELECT COUNT(*) FROM meta")
        with pytest.raises(DatabaseFault) as info:
            async with db.write() as tx:
                await tx.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                     [(f"filler-{i}", "x" * 2000) for i in range(5000)])
        assert "the disk is full" in str(info.value) and "nothing half-written was kept" in str(info.value)
        assert "\n" not in str(info.value)
        assert await db.fetch_value("SELECT COUNT(*) FROM meta") == before
        async with db.write() as tx:  # the connection is usable again
            await tx.execute("UPDATE meta SET value = value")
    finally:
        await db.close()


# --- a door controller dripping its answer ------------------------------------------------------------


def test_a_drip_feeding_controller_never_blocks_another_process(world: tuple[Path, Path], tmp_path: Path) -> None:
    from servers import DripServer

    db = fresh(world, tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(world[1].read_text(encoding="utf-8") + "\n[door_controller]\nkind = \"http\"\n"
                      "timeout_seconds = 1.0\nbase_url = \"{url}\"\n", encoding="utf-8")
    drip = DripServer(interval=0.25).start()
    config.write_text(config.read_text(encoding="utf-8").replace("{url}", drip.url), encoding="utf-8")
    [member] = suspendable(db, 1)
    waits: list[float] = []
    try:
        act = subprocess.Popen([sys.executable, "-m", "gymconsole", "tool", "suspend_door_access",
                                json.dumps({"member_ids": [member]}), "--yes", "--db", str(db), "--config",
                                str(config)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=gymconsole_env())
        other = sqlite3.connect(db, isolation_level=None, timeout=10)
        while act.poll() is None:  # another process writing all the while
            if drip.answered:
                before = time.monotonic()
                other.execute("BEGIN IMMEDIATE")
                other.execute("COMMIT")
                waits.append(time.monotonic() - before)
            time.sleep(0.05)
        stdout, stderr = act.communicate(timeout=30)
        other.close()
    finally:
        drip.close()
    assert act.returncode == 1 and "Traceback" not in stderr, stderr
    assert "did not answer within 1 s" in json.loads(stdout)["error"]
    assert drip.answered == 1 and drip.bytes_sent < 10  # cut off at the deadline, long before a whole answer
    assert waits and max(waits) < 0.5, waits
    assert count(db, "SELECT access_state FROM door_credentials WHERE member_id = ?", (member,)) == "active"
    assert count(db, "SELECT COUNT(*) FROM effects WHERE action = 'suspend_door_access' AND target = ?",
                 (f"member-{member}",)) == 0  # the claim was withdrawn: a later run may try again


# --- askers that are gone ----------------------------------------------------------------------------

ASKER_SCRIPT = """
import asyncio, sys
from gymconsole.config import load_config
from gymconsole.engine.services import open_services
from gymconsole.tools.registry import call_tool

async def main():
    async def asker(request):
        print(request.approval_id, flush=True)
        await asyncio.Event().wait()  # a console left open: nobody answers

    async with open_services(load_config(sys.argv[2]), db_path=sys.argv[1], asker=asker, offline=True) as services:
        run_id = await services.recorder.start_run("door_access", "manual", "offline", False)
        from gymconsole.tools.base import ToolContext
        ctx = ToolContext(services.db, services.config, services.clock, "door_access", run_id)
        await call_tool(ctx, "suspend_door_access", {"member_ids": [int(sys.argv[3])]}, None,
                        services.gate.approve, services.gate.mark_executed)

asyncio.run(main())
"""


def start_asker(db: Path, config: Path, member: int) -> tuple[subprocess.Popen[str], int]:
    asker = subprocess.Popen([sys.executable, "-c", ASKER_SCRIPT, str(db), str(config), str(member)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True, env=gymconsole_env())
    assert asker.stdout is not None
    line = asker.stdout.readline()
    assert line.strip().isdigit(), line
    return asker, int(line)


def test_an_asker_killed_with_sigkill_releases_its_request(world: tuple[Path, Path], tmp_path: Path) -> None:
    db = fresh(world, tmp_path)
    [member] = suspendable(db, 1)
    asker, approval_id = start_asker(db, world[1], member)
    asker.send_signal(signal.SIGKILL)
    asker.wait(timeout=10)
    listed = json.loads(gymconsole(db, world[1], "approvals", "--json").stdout)
    assert [(r["id"], r["status"]) for r in listed] == [(approval_id, "released")]
    approved = gymconsole(db, world[1], "approvals", "approve", str(approval_id))
    assert approved.returncode == 0 and "done 1" in approved.stdout, approved.stderr
    twice = gymconsole(db, world[1], "approvals", "approve", str(approval_id))
    one_line_failure(twice, f"approval #{approval_id} was already decided: done")
    assert count(db, "SELECT COUNT(*) FROM door_changes WHERE member_id = ?", (member,)) == 1
    audit = [r[0] for r in sqlite3.connect(db).execute(
        "SELECT decision FROM audit_log WHERE approval_id = ? ORDER BY id", (approval_id,))]
    assert audit == ["released", "approved", "executed"]


def test_a_reused_pid_or_a_stuck_console(world: tuple[Path, Path], tmp_path: Path) -> None:
    """An asking row whose PID now names another live process is released by itself; one held by a live
    console that hangs is taken back with `approvals release`, audited, and decided once."""
    db = fresh(world, tmp_path)
    [first] = suspendable(db, 1)
    asker, stuck = start_asker(db, world[1], first)
    stranger = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        plan = sqlite3.connect(db).execute("SELECT plan, run_id FROM approvals WHERE id = ?", (stuck,)).fetchone()
        with sqlite3.connect(db) as conn:  # as a long-dead asker left it: its PID since reused by `stranger`
            reused = conn.execute(
                "INSERT INTO approvals (run_id, workflow, tool, risk, title, plan, item_count, status, requested_at, "
                "pid, pid_started) VALUES (?, 'door_access', 'suspend_door_access', 'high', 'Suspend door access', "
                "?, 1, 'asking', '2026-01-01T00:00:00', ?, 'another-boot:12345')",
                (plan[1], plan[0], stranger.pid)).lastrowid
        listed = {r["id"]: r["status"] for r in json.loads(gymconsole(db, world[1], "approvals", "--json").stdout)}
        assert listed == {stuck: "asking", reused: "released"}
        refused = gymconsole(db, world[1], "approvals", "approve", str(stuck))
        assert "being asked right now" in one_line_failure(refused, f"gymconsole approvals release {stuck}")
        released = gymconsole(db, world[1], "approvals", "release", str(stuck), "--reason", "front desk PC froze")
        assert released.returncode == 0 and released.stderr == "", released.stderr
        assert f"approval #{stuck} released (it was being asked right now)" in released.stdout
        assert gymconsole(db, world[1], "approvals", "approve", str(stuck)).returncode == 0
        again = gymconsole(db, world[1], "approvals", "release", str(stuck))
        one_line_failure(again, "nothing to release")
    finally:
        stranger.kill()
        asker.kill()
        stranger.wait(timeout=10)
        asker.wait(timeout=10)
    assert count(db, "SELECT COUNT(*) FROM door_changes WHERE member_id = ?", (first,)) == 1
    detail = count(db, "SELECT detail FROM audit_log WHERE approval_id = ? AND decision = 'released'", (stuck,))
    assert "front desk PC froze" in detail

