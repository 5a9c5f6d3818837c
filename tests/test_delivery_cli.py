"""``gymconsole outbox``: listing, sending, STOP replies, door drift; exit codes; secrets from .env never shown."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_delivery import contactable_members, queue_messages, statuses
from servers import DoorControllerServer, SmtpRecorder, start_smtp

from gymconsole.cli import main
from gymconsole.db import open_database

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "env-file-pa55word-42"


def _config(folder: Path, extra: str = "") -> Path:
    path = folder / "console.toml"
    path.write_text('[database]\npath = "gym.db"\n\n[safety]\nquiet_hours_start = \"none\"\n'
                    + extra, encoding="utf-8")
    return path


def _smtp(port: int) -> str:
    return (f'\n[delivery]\nemail = "smtp"\n\n[delivery.smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
            'from_address = "desk@gym.test"\ntimeout_seconds = 5\n')


def _db(path: Path, work):  # type: ignore[no-untyped-def]
    """Run ``await work(db)`` on the database (the CLI runs its own event loop, so these tests are sync)."""
    async def go():  # type: ignore[no-untyped-def]
        async with open_database(path) as db:
            return await work(db)
    return asyncio.run(go())


def _queue(path: Path, clock, count: int, column: str = "email", **kwargs) -> list[int]:  # type: ignore[no-untyped-def]
    async def work(db):  # type: ignore[no-untyped-def]
        return await queue_messages(db, clock, await contactable_members(db, count, column=column), **kwargs)
    return _db(path, work)


def _statuses(path: Path, ids: list[int]) -> dict:  # type: ignore[type-arg]
    return _db(path, lambda db: statuses(db, ids))


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the repo


def test_the_listing_counts_by_status(demo_path, clock, capsys) -> None:
    _queue(demo_path, clock, 2)
    config = _config(demo_path.parent)
    assert main(["outbox", "--config", str(config), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["email"]["queued"] == 2
    assert data["modes"] == {"email": "kept in the outbox, not sent", "sms": "kept in the outbox, not sent"}
    assert main(["outbox", "--config", str(config), "--status", "queued"]) == 0
    out = capsys.readouterr().out
    assert "queued 2" in out and [line.split()[1] for line in out.splitlines() if line.startswith("#")] == ["queued"] * 2


def test_the_listing_reads_in_plain_words_and_fits_80_columns(demo_path, clock, capsys, monkeypatch) -> None:
    _queue(demo_path, clock, 2, kind="final_notice")
    assert main(["outbox", "--config", str(_config(demo_path.parent)), "--status", "queued"]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("#")]
    assert len(listed) == 2 and all(len(line) <= 80 for line in listed), listed
    # kind and time as the manager reads them: the clock's 15:00 UTC is 10:00 in New York, not 2026-11-02T15:00:00
    assert all(" final notice " in line and "0 tries" in line and line.endswith("11-02 10:00") for line in listed)


def test_send_without_a_channel_sends_nothing(demo_path, clock, capsys) -> None:
    ids = _queue(demo_path, clock, 1)
    assert main(["outbox", "send", "--config", str(_config(demo_path.parent))]) == 0
    assert capsys.readouterr().out.startswith("nothing is sent: delivery.email and delivery.sms are both")
    assert _statuses(demo_path, ids)[ids[0]]["status"] == "queued"


def test_send_drains_until_idle_and_reports(demo_path, clock, capsys) -> None:
    recorder = SmtpRecorder()
    controller = start_smtp(recorder)
    try:
        ids = _queue(demo_path, clock, 3)
        code = main(["outbox", "send", "--json", "--config", str(_config(demo_path.parent, _smtp(controller.port)))])
    finally:
        controller.stop()
    assert code == 0
    assert json.loads(capsys.readouterr().out)["sent"] == 3 and len(recorder.messages) == 3
    assert {r["status"] for r in _statuses(demo_path, ids).values()} == {"sent"}


def test_send_exits_1_when_a_message_failed(demo_path, clock, capsys) -> None:
    recorder = SmtpRecorder()
    recorder.rcpt_reply = "550 no such user"
    controller = start_smtp(recorder)
    try:
        _queue(demo_path, clock, 1)
        code = main(["outbox", "send", "--once", "--config", str(_config(demo_path.parent, _smtp(controller.port)))])
    finally:
        controller.stop()
    out = capsys.readouterr().out
    assert code == 1 and out.startswith("sent 0, retrying 0, failed 1") and "550 no such user" in out


def test_stop_reply(demo_path, capsys) -> None:
    config = str(_config(demo_path.parent))
    person = _db(demo_path, lambda db: contactable_members(db, 1, column="phone"))[0]
    assert main(["outbox", "stop-reply", "--phone", person["phone"], "--config", config]) == 0
    assert capsys.readouterr().out.startswith(f"opted out: member #{person['id']}")
    assert main(["outbox", "stop-reply", "--phone", "+1 (999) 000-0000", "--config", config]) == 1
    assert capsys.readouterr().out == "no member or prospect has the number +1 (999) 000-0000\n"
    assert main(["outbox", "stop-reply", "--phone", "STOP", "--config", config]) == 2
    assert capsys.readouterr().err == "gymconsole: not a phone number: 'STOP'\n"


def test_door_drift(demo_path, capsys) -> None:
    assert main(["outbox", "door-drift", "--config", str(_config(demo_path.parent))]) == 2
    assert "door_controller.kind is \"database\"" in capsys.readouterr().err
    rows = _db(demo_path, lambda db: db.fetch_all("SELECT badge_code, access_state FROM door_credentials"))
    controller = DoorControllerServer({r["badge_code"]: r["access_state"] for r in rows}).start()
    try:
        config = str(_config(demo_path.parent, f'\n[door_controller]\nkind = "http"\nbase_url = "{controller.url}"\n'))
        assert main(["outbox", "door-drift", "--config", config]) == 0
        assert capsys.readouterr().out.startswith("door controller matches the database")
        controller.states[rows[0]["badge_code"]] = "missing-state"
        assert main(["outbox", "door-drift", "--json", "--config", config]) == 1
        data = json.loads(capsys.readouterr().out)
        assert data["clean"] is False and data["differences"][0]["controller"] == "missing-state"
    finally:
        controller.close()


def test_bad_config_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path, '\n[delivery]\nsms = "gateway"\n')
    assert main(["outbox", "--config", str(config)]) == 2
    assert capsys.readouterr().err.strip().endswith('sms = "gateway" needs delivery.sms_gateway.url')


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS", "ignore:Session.login_data is deprecated")
def test_secrets_from_dotenv_are_used_and_never_shown(demo_path, clock) -> None:
    recorder = SmtpRecorder()
    controller = start_smtp(recorder, logins={"desk": PASSWORD})
    folder = demo_path.parent
    (folder / ".env").write_text(f"GYMCONSOLE_SMTP_USER=desk\nGYMCONSOLE_SMTP_PASSWORD={PASSWORD}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GYMCONSOLE_")} | {"PYTHONPATH": str(ROOT)}
    config = str(_config(folder, _smtp(controller.port)))
    command = [sys.executable, "-m", "gymconsole", "outbox", "send", "--once", "--config", config]
    try:
        _queue(demo_path, clock, 1)
        good = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=60)
        (folder / ".env").write_text(f"GYMCONSOLE_SMTP_USER=desk\nGYMCONSOLE_SMTP_PASSWORD=x{PASSWORD}\n")
        _queue(demo_path, clock, 1, kind="final_notice")
        bad = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=60)
    finally:
        controller.stop()
    assert good.returncode == 0 and good.stdout.startswith("sent 1,") and len(recorder.messages) == 1
    assert bad.returncode == 0 and bad.stdout.startswith("sent 0, retrying 1")
    assert "refused the login (535)" in bad.stdout
    everything = good.stdout + good.stderr + bad.stdout + bad.stderr
    everything += str(_db(demo_path, lambda db: db.fetch_all("SELECT * FROM outbox")))
    assert PASSWORD not in everything
