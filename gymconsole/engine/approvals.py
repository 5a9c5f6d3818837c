"""The approval store: the one owner of the ``approvals`` table and its audit trail.

An approval request's life is a small state machine; every change of state is
one short write transaction that checks the state it leaves (so two processes
never both move a request) and writes the audit row with it::

    asking --> pending | approved | partly_approved | denied | released
    pending, released --> approved | partly_approved | denied
    approved, partly_approved --> carrying_out | done | failed | released
    carrying_out --> done | failed | released | carrying_out (taken over once its carrier ended)
    failed --> carrying_out | released

* ``asking``: a person is being asked now, by the process recorded as its holder
  (pid and that process's start time, so a reused PID is not mistaken for it);
* ``pending``: nobody answered while the run waited (no asker, time ran out, the
  asker failed, the run was cancelled, the question withdrawn: ``reason`` says
  which); decide it later;
* ``released``: taken back from its holder, because that process ended (or is a
  zombie, or its PID now names another process) or a person ran
  ``gymconsole approvals release ID``; decide it like a pending one;
* ``approved`` / ``partly_approved`` / ``denied``: a person's answer;
* ``carrying_out`` -> ``done`` | ``failed``: the approved plan being carried out
  (the ledger keeps each act single, so finishing an interrupted one is safe).

A request approved but whose holder ended before it was done, or whose run ended
before carrying it out, is listed as ``interrupted`` (derived, never stored):
approving it again finishes exactly what was approved.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gymconsole.clock import Clock, iso
from gymconsole.db import Database, Transaction
from gymconsole.process import same_process_alive, this_process
from gymconsole.tools.base import ActionPlan

if TYPE_CHECKING:
    from gymconsole.tools.registry import Decision

ASKING, PENDING, RELEASED = "asking", "pending", "released"
APPROVED, PARTLY_APPROVED, DENIED = "approved", "partly_approved", "denied"
CARRYING_OUT, DONE, FAILED = "carrying_out", "done", "failed"
INTERRUPTED = "interrupted"
"""Not stored: an approved request whose carrying out was cut short (listed so it can be finished)."""

STATES = (ASKING, PENDING, APPROVED, PARTLY_APPROVED, DENIED, CARRYING_OUT, DONE, FAILED, RELEASED)
TRANSITIONS: dict[str, frozenset[str]] = {
    ASKING: frozenset({PENDING, APPROVED, PARTLY_APPROVED, DENIED, RELEASED}),
    PENDING: frozenset({APPROVED, PARTLY_APPROVED, DENIED}),
    RELEASED: frozenset({APPROVED, PARTLY_APPROVED, DENIED}),
    APPROVED: frozenset({CARRYING_OUT, DONE, FAILED, RELEASED}),
    PARTLY_APPROVED: frozenset({CARRYING_OUT, DONE, FAILED, RELEASED}),
    CARRYING_OUT: frozenset({CARRYING_OUT, DONE, FAILED, RELEASED}),  # taken over when its carrier ended
    FAILED: frozenset({CARRYING_OUT, RELEASED}),
    DENIED: frozenset(),
    DONE: frozenset(),
}
DECIDABLE = (PENDING, RELEASED)
"""States a person decides afresh (approve, partly approve, deny)."""
UNFINISHED = (APPROVED, PARTLY_APPROVED, CARRYING_OUT, FAILED)
"""Approved and not done: finished by approving again once nobody is carrying it out."""
OPEN = (ASKING, *DECIDABLE, *UNFINISHED)
SHOWN: dict[str, str | None] = {ASKING: ASKING, PENDING: PENDING, RELEASED: RELEASED, FAILED: INTERRUPTED,
                                DENIED: DENIED, DONE: DONE, APPROVED: None, PARTLY_APPROVED: None, CARRYING_OUT: None}
"""How each stored state is shown (listed, counted); None: it depends on whether its holder still holds it
(as is, or ``interrupted``: :meth:`ApprovalStore._shown_status`)."""
WAITING = tuple(state for state, shown in SHOWN.items() if shown in (*DECIDABLE, INTERRUPTED))
"""Stored states that wait for a person whoever holds them."""
DEPENDING = tuple(state for state, shown in SHOWN.items() if shown is None)
"""Stored states that wait for a person only once nobody holds them (shown as interrupted then)."""
LISTED = ("id, run_id, workflow, tool, risk, title, item_count, status, requested_at, pid, pid_started,"
          " CASE WHEN COALESCE(title, '') = '' THEN plan END AS plan")
"""The columns of :meth:`ApprovalStore.open_list` (and what telling whether a request is held needs)."""

_HELD: set[tuple[str, int]] = set()
"""(database, approval id) this process is asking about or carrying out right now, whichever store holds it."""
def me() -> tuple[int, str | None]:
    """This process as a holder: (pid, start time)."""
    return this_process()


class StateError(Exception):
    """A change of state the request is not in a state for (decided elsewhere meanwhile, already done...)."""


class Unreadable(ValueError):
    """A request's stored plan, or what it was approved for, cannot be read (a damaged row), in words."""


@dataclass(frozen=True)
class ShownPlan:
    """A waiting request as a person is shown it before deciding: its state now, and what approving it carries out."""

    approval_id: int
    status: str
    """Its shown state (``pending``, ``interrupted``...), passed back to :meth:`ApprovalGate.decide_pending` as seen."""
    plan: ActionPlan
    """The stored plan; for an interrupted request only the part approved (the rest skipped as not approved)."""
    approved_keys: frozenset[str] | None
    """What an interrupted request was approved for (None: all of it): finishing it carries out exactly these."""

    @property
    def finishing(self) -> bool:
        """Approving it finishes what was approved before: its targets are fixed, not chosen again."""
        return self.status == INTERRUPTED


def only(plan: ActionPlan, keys: Iterable[str] | None) -> ActionPlan:
    """The part of a plan a person approved; the rest becomes skipped as 'not approved'."""
    if keys is None:
        return plan
    chosen = set(keys)
    return ActionPlan(plan.tool, plan.action, plan.risk, [i for i in plan.items if i.key in chosen],
                      plan.skipped + [{"id": i.target_id, "name": i.label, "reason": "not approved"}
                                      for i in plan.items if i.key not in chosen],
                      plan.args, plan.message)


@dataclass(frozen=True)
class Approval:
    """One stored request, as read from the store."""

    id: int
    run_id: int | None
    workflow: str
    tool: str
    risk: str
    title: str
    plan: dict[str, Any]
    item_count: int
    status: str
    """Stored state, or ``interrupted`` when it is approved and nobody is carrying it out any more."""
    requested_at: str
    pid: int | None
    decided_at: str | None
    decided_by: str | None
    decided_via: str | None
    reason: str | None
    approved_keys: list[str] | None
    executed_at: str | None
    result: dict[str, Any] | None

    def action_plan(self) -> ActionPlan:
        return ActionPlan.from_dict(self.plan)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _approval(row: dict[str, Any], status: str) -> Approval:
    return Approval(row["id"], row["run_id"], row["workflow"], row["tool"], row["risk"], row["title"],
                    json.loads(row["plan"]), row["item_count"], status, row["requested_at"], row["pid"],
                    row["decided_at"], row["decided_by"], row["decided_via"], row["reason"],
                    json.loads(row["approved_keys"]) if row["approved_keys"] else None, row["executed_at"],
                    json.loads(row["result"]) if row["result"] else None)


def _keys_json(keys: Iterable[str] | None) -> str | None:
    return None if keys is None else json.dumps(sorted(keys))


@dataclass(frozen=True)
class AuditEntry:
    """One audit_log row: a decision about an act, or what became of an approved one."""

    run_id: int | None
    workflow: str
    tool: str
    risk: str
    decision: str
    actor: str
    via: str
    item_count: int
    detail: str
    approval_id: int | None = None


class ApprovalStore:
    """Every read and write of ``approvals`` (and its audit rows), one checked transition at a time."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def _key(self, approval_id: int) -> tuple[str, int]:
        return (str(self.db.path), approval_id)

    # --- writing ----------------------------------------------------------------

    async def audit(self, entry: AuditEntry, tx: Transaction | None = None) -> None:
        """One audit_log row (in ``tx`` when given, else in a transaction of its own)."""
        if tx is None:
            async with self.db.write() as own:
                return await self.audit(entry, own)
        await tx.insert(
            "INSERT INTO audit_log (at, approval_id, run_id, workflow, tool, risk, decision, actor, via, item_count, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [iso(self.clock.now()), entry.approval_id, entry.run_id, entry.workflow, entry.tool, entry.risk,
             entry.decision, entry.actor, entry.via, entry.item_count, entry.detail])

    async def open(self, run_id: int | None, workflow: str, plan: ActionPlan) -> tuple[int, str]:
        """A new request in ``asking``, held by this process; returns (id, requested_at)."""
        requested_at = iso(self.clock.now())
        pid, started = me()
        async with self.db.write() as tx:
            approval_id = await tx.insert(
                "INSERT INTO approvals (run_id, workflow, tool, risk, title, plan, item_count, status, requested_at, "
                "pid, pid_started) VALUES (?, ?, ?, ?, ?, ?, ?, 'asking', ?, ?, ?)",
                [run_id, workflow, plan.tool, plan.risk, plan.title, json.dumps(plan.as_dict()), len(plan.items),
                 requested_at, pid, started])
            assert approval_id is not None
            # Held before COMMIT: a listing in this process must never take an on-screen request for an orphan.
            _HELD.add(self._key(approval_id))
        return approval_id, requested_at

    async def move(self, approval_id: int, to: str, *, audit: AuditEntry | None = None,
                   decision: Decision | None = None, reason: str | None = None,
                   result: dict[str, Any] | None = None, expect: Iterable[str] | None = None) -> str:
        """Move a request to state ``to`` from one it may leave for it; returns the state it left.

        ``decision`` stores who decided (and the approved keys); ``result`` stores what carrying it out did.
        Raises :class:`StateError` when the request is gone or not in a state that leads to ``to``.
        """
        async with self.db.write() as tx:
            row = await tx.fetch_one("SELECT status FROM approvals WHERE id = ?", [approval_id])
            if row is None:
                raise StateError(f"no approval request #{approval_id}")
            before = row["status"]
            allowed = [s for s, targets in TRANSITIONS.items() if to in targets]
            if expect is not None:
                allowed = [s for s in allowed if s in set(expect)]
            if before not in allowed:
                raise StateError(f"approval #{approval_id} is {before.replace('_', ' ')}, not "
                                 f"{' or '.join(s.replace('_', ' ') for s in allowed)}")
            sets, params = ["status = ?"], [to]
            if decision is not None:
                sets += ["decided_at = ?", "decided_by = ?", "decided_via = ?", "approved_keys = ?"]
                params += [iso(self.clock.now()), decision.actor, decision.via, _keys_json(decision.approved_keys)]
            if to == RELEASED:
                sets += ["decided_at = NULL", "decided_by = NULL", "decided_via = NULL", "approved_keys = NULL"]
            if reason is not None:
                sets.append("reason = ?")
                params.append(reason)
            if to == CARRYING_OUT or (to in (APPROVED, PARTLY_APPROVED) and before == ASKING):
                pid, started = me()  # whoever carries it out holds it now
                sets += ["pid = ?", "pid_started = ?"]
                params += [pid, started]
            if to in (DONE, FAILED):
                sets += ["executed_at = ?", "result = ?"]
                params += [iso(self.clock.now()), json.dumps(result or {}, default=str)]
            await tx.execute(f"UPDATE approvals SET {', '.join(sets)} WHERE id = ?", [*params, approval_id])
            if audit is not None:
                await self.audit(audit, tx)
        if to == CARRYING_OUT:
            _HELD.add(self._key(approval_id))
        elif to not in (APPROVED, PARTLY_APPROVED):
            _HELD.discard(self._key(approval_id))
        return before

    def let_go(self, approval_id: int) -> None:
        """This process no longer asks about or carries out the request (whatever its stored state)."""
        _HELD.discard(self._key(approval_id))

    # --- reading ----------------------------------------------------------------

    async def get(self, approval_id: int) -> Approval | None:
        row = await self.db.fetch_one("SELECT * FROM approvals WHERE id = ?", [approval_id])
        return None if row is None else _approval(row, await self._shown_status(row))

    async def shown_plan(self, approval_id: int) -> ShownPlan | None:
        """One request's shown state and plan, read to show it before a decision (:meth:`ApprovalGate.pending_plan`).

        Only what that needs is read (a damaged ``result`` does not matter); :class:`Unreadable` says what cannot be.
        """
        row = await self.db.fetch_one("SELECT id, run_id, status, pid, pid_started, plan, approved_keys"
                                      " FROM approvals WHERE id = ?", [approval_id])
        if row is None:
            return None
        status = await self._shown_status(row)
        try:
            plan = ActionPlan.from_dict(json.loads(row["plan"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise Unreadable(f"unreadable plan ({exc})") from None
        if status != INTERRUPTED or row["approved_keys"] is None:
            return ShownPlan(approval_id, status, plan, None)
        try:
            keys = json.loads(row["approved_keys"])
            if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
                raise ValueError(f"not a list of keys: {row['approved_keys'][:40]!r}")
        except ValueError as exc:
            raise Unreadable(f"which targets were approved cannot be read ({exc}); release it to decide afresh: "
                             f"gymconsole approvals release {approval_id}") from None
        return ShownPlan(approval_id, status, only(plan, keys), frozenset(keys))

    async def open_requests(self) -> list[Approval]:
        """Requests a person may still act on, oldest first: being asked, to decide, or to finish."""
        return [_approval(row, status) for row, status in await self._open_rows("*")]

    async def open_list(self) -> list[dict[str, Any]]:
        """:meth:`open_requests` as a list shows them: each one's row with its shown ``status`` and no plan.

        A plan is a few KB of JSON (17 KB for a campaign); read only when its request is shown (:meth:`get`),
        so a list of hundreds costs what its rows cost. ``plan`` is there (the JSON) only for a request stored
        without a title, which the list describes by its plan.
        """
        return [{**row, "status": status} for row, status in await self._open_rows(LISTED)]

    async def _open_rows(self, columns: str) -> list[tuple[dict[str, Any], str]]:
        marks = ", ".join("?" for _ in OPEN)
        rows = await self.db.fetch_all(f"SELECT {columns} FROM approvals WHERE status IN ({marks}) ORDER BY id", OPEN)
        out = []
        for row in rows:
            status = await self._shown_status(row)
            if status in DEPENDING:
                continue  # still held: being carried out right now
            out.append((row, status))
        return out

    async def count_waiting(self) -> int:
        """How many wait for a person to decide or finish (not those being asked or carried out now).

        The same count as :meth:`open_requests` less those being asked, counted where they are stored: the
        dashboard asks at every run, and reading every waiting request, plans and all, only to count them
        made each refresh cost more with every request left waiting (400 after a night), and the memory of
        that read, made anew each time, is memory the process keeps (``gymconsole/tui/memory.py``).
        """
        marks = ", ".join("?" for _ in WAITING)
        waiting = await self.db.fetch_value(f"SELECT COUNT(*) FROM approvals WHERE status IN ({marks})", WAITING)
        # An approved request is waiting only when nobody carries it out: the few of these are looked at one by one.
        marks = ", ".join("?" for _ in DEPENDING)
        approved = await self.db.fetch_all("SELECT id, status, pid, pid_started, run_id FROM approvals"
                                           f" WHERE status IN ({marks})", DEPENDING)
        return int(waiting) + sum([await self._shown_status(row) == INTERRUPTED for row in approved])

    async def orphans(self) -> list[Approval]:
        """Requests in ``asking`` whose holder is gone (ended, a zombie, or its PID reused)."""
        rows = await self.db.fetch_all("SELECT * FROM approvals WHERE status = 'asking' ORDER BY id")
        return [_approval(row, ASKING) for row in rows if not self.held(row)]

    def held(self, row: dict[str, Any]) -> bool:
        """Is the process recorded on the row still holding it (asking, or carrying it out)?"""
        if self._key(row["id"]) in _HELD:
            return True
        pid, started = me()
        if row["pid"] == pid and row["pid_started"] == started:
            return False  # ours, and this process no longer holds it
        return same_process_alive(row["pid"], row["pid_started"])

    async def still_held(self, approval_id: int) -> bool:
        row = await self.db.fetch_one("SELECT id, pid, pid_started FROM approvals WHERE id = ?", [approval_id])
        return row is None or self.held(row)

    async def _shown_status(self, row: dict[str, Any]) -> str:
        status = row["status"]
        fixed = SHOWN.get(status, status)
        if fixed is not None:
            return fixed
        if status == CARRYING_OUT:
            return CARRYING_OUT if self.held(row) else INTERRUPTED
        if status in (APPROVED, PARTLY_APPROVED):
            # Approved while its run waited: the run carries it out next, unless the run or its process ended.
            if not self.held(row):
                return INTERRUPTED
            if row["run_id"] is not None:
                run_status = await self.db.fetch_value("SELECT status FROM runs WHERE id = ?", [row["run_id"]])
                if run_status != "running":
                    return INTERRUPTED
        return status

    async def waiting_since(self, cutoff: str | None = None) -> list[dict[str, Any]]:
        """(id, workflow, title, requested_at) of requests waiting for a person (asked, pending or released),
        requested at or before ``cutoff`` when given; a plain read, for counts and alerts."""
        rows = await self.db.fetch_all(
            "SELECT id, workflow, title, requested_at FROM approvals WHERE status IN ('asking', 'pending', 'released') "
            "AND requested_at <= ? ORDER BY id", [cutoff or "9999"])
        return list(rows)
