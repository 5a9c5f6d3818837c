"""Door controllers: the database by default, or a controller's REST API that must confirm each change.

With ``[door_controller] kind = "http"`` a suspend or restore first asks the
controller and only then changes ``door_credentials`` (the door tools call
:func:`confirm_door_change` inside the act's transaction; when it raises, the
transaction rolls back and the ledger key is not marked done).  The API:

- ``PUT {base_url}/credentials/{badge}`` with ``{"state": "suspended"|"active",
  "member_id": ..., "reason": ...}`` and an ``Idempotency-Key``; the answer
  must be 2xx with ``{"state": <the state asked for>}``.
- ``GET {base_url}/credentials`` answers ``[{"badge": ..., "state": ...}, ...]``
  (or ``{"credentials": [...]}``), used by :func:`check_door_drift`, which
  reports differences and changes nothing.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from gymconsole.config import Config, DoorControllerConfig
from gymconsole.db import Database, Transaction
from gymconsole.delivery.transport import DeliveryError, http_json, secret, stable_key

PEER = "the door controller"


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


async def confirm_door_change(config: Config, tx: Transaction, member_id: int, state: str, reason: str,
                              key: str) -> None:
    """The door tools' hook: with an HTTP controller, have it confirm before the stored state changes.

    Runs inside the act's write transaction (the claim is rolled back if this
    raises); a slow controller holds the write lock for at most
    ``door_controller.timeout_seconds``.  A no-op for ``kind = "database"``.
    """
    controller = controller_for(config)
    if controller is None:
        return
    badge = await tx.fetch_value("SELECT badge_code FROM door_credentials WHERE member_id = ?", [member_id])
    if badge is None:
        raise DoorControllerError(f"member #{member_id} has no door credential")
    try:
        await controller.set_state(badge, state, member_id=member_id, reason=reason, key=key)
    except DoorControllerError as exc:
        raise DoorControllerError(f"door change for member #{member_id} not made: {exc}") from None


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


async def check_door_drift(db: Database, config: Config, controller: HttpDoorController | None = None) -> DriftReport:
    """Compare the controller's credential list with ``door_credentials``; report, never fix.

    Returns an empty report when the database is the door system; a
    controller that cannot be reached gives a report with ``error`` set.
    """
    controller = controller or controller_for(config)
    if controller is None:
        return DriftReport()
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
