"""Door controllers: the database by default, or a controller's REST API that must confirm each change.

With ``[door_controller] kind = "http"`` a suspend or restore first asks the
controller and only then changes ``door_credentials``.  The network call is
never made inside a transaction: the door tools claim the ledger key with the
intent in one short transaction, call :func:`confirm_door_change` (a total
deadline of ``timeout_seconds``), and record the change in a second one; when
the controller does not confirm, the claim is withdrawn.  Intents left by a
process that died in between are settled by :func:`reconcile_door_intents`
(at the next door act and at the drift check).  The API:

- ``PUT {base_url}/credentials/{badge}`` with ``{"state": "suspended"|"active",
  "member_id": ..., "reason": ...}`` and an ``Idempotency-Key``; the answer
  must be 2xx with ``{"state": <the state asked for>}``.
- ``GET {base_url}/credentials`` answers ``[{"badge": ..., "state": ...}, ...]``
  (or ``{"credentials": [...]}``), used by :func:`check_door_drift`, which
  reports differences and changes nothing.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from dataclasses import dataclass, field
from typing import Any

from gymconsole.clock import iso
from gymconsole.config import Config, DoorControllerConfig
from gymconsole.db import Database
from gymconsole.delivery.transport import DeliveryError, http_json, secret, stable_key

PEER = "the door controller"
log = logging.getLogger(__name__)


class DoorControllerError(Exception):
    """The controller did not confirm a change: the act fails with this one-line reason."""


class HttpDoorController:
    """A door controller's REST API."""

    def __init__(self, settings: DoorControllerConfig) -> None:
        self.settings = settings

    def _url(self, *parts: str) -> str:
        return self.settings.base_url.rstrip("/") + "/" + "/".join(urllib.parse.quote(p, safe="") for p in parts)

    async def set_state(self, badge: str, state: str, *, member_id: int, reason: str, key: str) -> None:
        """Ask the controller to put ``badge`` in ``state``; raises DoorControllerError unless it confirms."""
        try:
            reply = await http_json("PUT", self._url("credentials", badge),
                                    {"state": state, "member_id": member_id, "reason": reason}, peer=PEER,
                                    token=secret(self.settings.token_env), timeout=self.settings.timeout_seconds,
                                    headers={"Idempotency-Key": f"gymconsole-{stable_key(key)}"})
        except DeliveryError as exc:
            raise DoorControllerError(f"{PEER} did not confirm: {exc.reason}") from None
        confirmed = reply.body.get("state") if isinstance(reply.body, dict) else None
        if confirmed != state:
            raise DoorControllerError(f"{PEER} answered without confirming {state!r} (it said {confirmed!r})")

    async def list_states(self) -> dict[str, str]:
        """Badge -> state as the controller sees it."""
        try:
            reply = await http_json("GET", self._url("credentials"), peer=PEER, token=secret(self.settings.token_env),
                                    timeout=self.settings.timeout_seconds)
        except DeliveryError as exc:
            raise DoorControllerError(exc.reason) from None
        rows = reply.body.get("credentials") if isinstance(reply.body, dict) else reply.body
        if not isinstance(rows, list):
            raise DoorControllerError(f"{PEER} sent a credential list in an unknown format")
        states: dict[str, str] = {}
        for row in rows:
            if isinstance(row, dict) and isinstance(row.get("badge"), str):
                states[row["badge"]] = str(row.get("state"))
        return states


def controller_for(config: Config) -> HttpDoorController | None:
    """The configured controller, or None when the database is the door system."""
    if config.door_controller.kind == "http":
        return HttpDoorController(config.door_controller)
    return None


async def confirm_door_change(controller: HttpDoorController, wanted: dict[str, Any], key: str) -> None:
    """Have the controller make (and confirm) one recorded intent; one line when it does not.

    Called between the door tools' two short transactions, never inside one: the controller has
    ``door_controller.timeout_seconds`` in all (connect and the whole answer), and meanwhile nothing
    is locked.  The Idempotency-Key is the ledger key's, so asking again after a lost answer is safe.
    """
    try:
        await controller.set_state(wanted["badge"], wanted["state"], member_id=wanted["member_id"],
                                   reason=wanted["reason"], key=key)
    except DoorControllerError as exc:
        raise DoorControllerError(f"door change for member #{wanted['member_id']} not made: {exc}") from None


async def reconcile_door_intents(db: Database, config: Config, now: Callable[[], str],
                                 controller: HttpDoorController | None = None) -> list[dict[str, Any]]:
    """Settle door changes a process claimed and never confirmed (it died, or the machine did, mid-call).

    The controller is asked what it holds: where it shows the intended state the change is recorded as
    done (once: the ledger key is the same); where it does not, the claim is withdrawn so a later run may
    act again after re-checking the guard rails.  Claims still in flight in a live process are left alone.
    Returns what was settled; a controller that cannot be reached leaves everything as it is.
    """
    from gymconsole.process import same_process_alive
    from gymconsole.tools.act import record_door_change
    from gymconsole.tools.ledger import IN_FLIGHT

    controller = controller or controller_for(config)
    if controller is None:
        return []
    rows = await db.fetch_all("SELECT key, result FROM effects WHERE status = 'pending' "
                              "AND action IN ('suspend_door_access', 'restore_door_access') ORDER BY created_at")
    orphans = []
    for row in rows:
        try:
            claim = json.loads(row["result"])
            wanted = claim["intent"]
        except (ValueError, KeyError, TypeError):
            wanted, claim = None, {}
        if row["key"] in IN_FLIGHT or (wanted and same_process_alive(claim.get("pid"), claim.get("pid_started"))):
            continue
        orphans.append((row["key"], wanted))
    if not orphans:
        return []
    try:
        remote = await controller.list_states()
    except DoorControllerError as exc:
        log.warning("door intents left unsettled: %s", exc)
        return []
    settled = []
    for key, wanted in orphans:
        made = wanted is not None and remote.get(wanted["badge"]) == wanted["state"]
        async with db.write() as tx:
            if made:
                outcome = await record_door_change(tx, wanted["member_id"], wanted["action"], wanted["state"],
                                                   wanted["reason"], key, wanted.get("run_id"), now())
                changed = await tx.execute("UPDATE effects SET status = 'done', done_at = ?, result = ? "
                                           "WHERE key = ? AND status = 'pending'",
                                           [now(), json.dumps({**outcome, "reconciled": True}), key])
            else:
                changed = await tx.execute("DELETE FROM effects WHERE key = ? AND status = 'pending'", [key])
        if changed:
            settled.append({"key": key, "made": made})
            log.warning("door change %s left unconfirmed by an ended process: %s", key,
                        "the controller shows it made; recorded" if made else "not made; withdrawn")
    return settled


@dataclass
class DriftReport:
    """Differences between the controller and the database (nothing is changed)."""

    checked: int = 0
    differences: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def clean(self) -> bool:
        return self.error is None and not self.differences

    def line(self) -> str:
        if self.error:
            return f"door drift check failed: {self.error}"
        if not self.differences:
            return f"door controller matches the database ({self.checked} credentials)"
        sample = ", ".join(f"{d['badge']} ({d['database']} here, {d['controller']} on the controller)"
                           for d in self.differences[:3])
        more = f" and {len(self.differences) - 3} more" if len(self.differences) > 3 else ""
        return f"door drift: {len(self.differences)} of {self.checked} credentials differ: {sample}{more}"

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "clean": self.clean, "differences": self.differences, "error": self.error,
                "summary": self.line()}

    def notice(self, run_id: int, workflow: str) -> Any:
        """This report as a run finding (a :class:`~gymconsole.engine.events.Notice` to emit on the bus)."""
        from gymconsole.engine.events import Notice

        return Notice(run_id=run_id, workflow=workflow, level="info" if self.clean else "warning",
                      message=self.line())


async def check_door_drift(db: Database, config: Config, controller: HttpDoorController | None = None, *,
                           read_only: bool = False) -> DriftReport:
    """Compare the controller's credential list with ``door_credentials``; report, never fix.

    Door changes an ended process left unconfirmed are settled first (unless ``read_only``, as in a dry
    run).  Returns an empty report when the database is the door system; a
    controller that cannot be reached gives a report with ``error`` set.
    """
    controller = controller or controller_for(config)
    if controller is None:
        return DriftReport()
    if not read_only:
        await reconcile_door_intents(db, config, lambda: iso(datetime.now(UTC)), controller)
    try:
        remote = await controller.list_states()
    except DoorControllerError as exc:
        return DriftReport(error=str(exc))
    rows = await db.fetch_all("SELECT member_id, badge_code, access_state FROM door_credentials ORDER BY member_id")
    report = DriftReport(checked=len(rows))
    for row in rows:
        theirs = remote.pop(row["badge_code"], "missing")
        if theirs != row["access_state"]:
            report.differences.append({"badge": row["badge_code"], "member_id": row["member_id"],
                                       "database": row["access_state"], "controller": theirs})
    for badge, state in sorted(remote.items()):
        report.differences.append({"badge": badge, "member_id": None, "database": "missing", "controller": state})
    return report
