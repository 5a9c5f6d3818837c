"""Standing approvals: a person's decision turned into a scoped, expiring, revocable rule.

"Always approve restoring door access when the balance is 0", "approve final
notices for up to 20 members a day".  A rule names one acting tool, conditions
on the plan's resolved targets (``balance <= 0``, ``days_past_due >= 14``), a
limit per local day (targets, or an amount in dollars) and an expiry (required,
at most :data:`MAX_DAYS` days).

The gate consults :func:`standing_decision` at one point: only where the policy
would ask a person.  So a rule never widens anything: ``deny`` stays denied, a
dry run stays a dry run, the guard rails have already resolved the plan (and
re-check every target when it is carried out), and a rule approves a plan only
if *every* target meets *every* condition and the day's limit has room for all
of them; otherwise the person is asked as before.  Each use is recorded
(``rule_uses``), under the same write lock as the limit check, and the
decision names the rule in the audit log (via ``rule``) and in the run's
history.  Adding and revoking a rule are audited too (``rule_added``,
``rule_revoked``, with who and how).
"""

from __future__ import annotations

import json
import operator
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gymconsole.clock import Clock, iso
from gymconsole.config import Config
from gymconsole.db import Database
from gymconsole.present.words import tool_words
from gymconsole.tools.base import ActionPlan, ToolContext
from gymconsole.tools.registry import REGISTRY, Decision

MAX_DAYS = 90
OPERATORS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "=": operator.eq,
             "!=": operator.ne}
FIELDS = {
    "balance": "the member's balance in dollars",
    "amount": "the amount in dollars (collections, rewards, invoices)",
    "days_past_due": "days the account is past due",
    "door_now": "door state before (active / suspended)",
    "channel": "email or sms",
    "person_kind": "member or prospect",
    "status": "the invoice's status",
    "kind": "reminder or final_notice (past-due notices)",
}
"""What conditions may test: fields of the plan's resolved targets (and ``kind``, the notice every target gets)."""
PLAN_FIELDS = ("kind",)
"""Arguments that hold for every target of a plan, tested as if they were the target's."""
_CONDITION = re.compile(r"^\s*([a-z_]+)\s*(<=|>=|!=|=|<|>)\s*(.+?)\s*$")


class RuleError(ValueError):
    """A rule that cannot be added or revoked, as one line."""


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: float | str

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = _CONDITION.match(text.replace("==", "="))
        if not match:
            raise RuleError(f"condition {text!r}: write FIELD OP VALUE, e.g. 'balance <= 0' "
                            f"(fields: {', '.join(FIELDS)}; operators: {', '.join(OPERATORS)})")
        name, op, raw = match.groups()
        if name not in FIELDS:
            raise RuleError(f"condition {text!r}: unknown field {name!r} (fields: {', '.join(FIELDS)})")
        raw = raw.strip("'\"").lstrip("$")
        try:
            value: float | str = float(raw)
        except ValueError:
            if op not in ("=", "!="):
                raise RuleError(f"condition {text!r}: {op} needs a number") from None
            value = raw
        return cls(name, op, value)

    def holds(self, item: dict[str, Any]) -> bool:
        """True only if the target has the field and it meets the condition (a missing field never matches)."""
        actual = item.get(self.field)
        if actual is None or isinstance(actual, bool):
            return False
        if isinstance(self.value, float):
            if not isinstance(actual, int | float):
                return False
            return bool(OPERATORS[self.op](float(actual), self.value))
        return bool(OPERATORS[self.op](str(actual), self.value))

    def text(self) -> str:
        value = f"{self.value:g}" if isinstance(self.value, float) else self.value
        return f"{self.field} {self.op} {value}"


@dataclass
class Rule:
    id: int
    tool: str
    conditions: list[Condition]
    max_per_day: int | None
    max_amount_per_day: float | None
    expires_at: str
    note: str
    created_at: str
    created_by: str
    revoked_at: str | None = None
    revoked_by: str | None = None
    uses: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """The rule in the manager's words: ``restore door access when balance <= 0, up to 20 a day, until ...``."""
        when = " and ".join(c.text().replace("_", " ") for c in self.conditions) or "any target"
        limits = []
        if self.max_per_day is not None:
            limits.append(f"up to {self.max_per_day} a day")
        if self.max_amount_per_day is not None:
            limits.append(f"up to ${self.max_amount_per_day:,.2f} a day")
        return f"{tool_words(self.tool)} when {when}, {', '.join(limits)}, until {self.expires_at[:10]}"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "tool": self.tool, "conditions": [c.text() for c in self.conditions],
                "max_per_day": self.max_per_day, "max_amount_per_day": self.max_amount_per_day,
                "expires_at": self.expires_at, "note": self.note, "created_at": self.created_at,
                "created_by": self.created_by, "revoked_at": self.revoked_at, "revoked_by": self.revoked_by,
                "description": self.describe(), "uses": self.uses}


def use_words(use: dict[str, Any]) -> str:
    """Which run one use of a rule approved for: ``run #12 door_access`` (the workflow alone without a run)."""
    return f"run #{use['run_id']} {use['workflow']}" if use.get("run_id") is not None else str(use["workflow"])


def _rule(row: dict[str, Any]) -> Rule:
    conditions = [Condition(c["field"], c["op"], c["value"]) for c in json.loads(row["conditions"])]
    return Rule(row["id"], row["tool"], conditions, row["max_per_day"], row["max_amount_per_day"], row["expires_at"],
                row["note"], row["created_at"], row["created_by"], row["revoked_at"], row["revoked_by"])


def _plan_amount(plan: ActionPlan) -> float:
    total = 0.0
    for item in plan.items:
        value = item.detail.get("amount", item.detail.get("balance", 0))
        total += float(value) if isinstance(value, int | float) else 0.0
    return round(total, 2)


class RuleBook:
    """The standing approval rules of one database."""

    def __init__(self, db: Database, config: Config, clock: Clock) -> None:
        self.db = db
        self.config = config
        self.clock = clock

    def _today(self) -> str:
        return self.clock.now().astimezone(ZoneInfo(self.config.scheduler.timezone)).date().isoformat()

    async def _audit(self, tx: Any, rule: Rule, decision: str, actor: str, via: str) -> None:
        """Making and revoking a rule are audited like the decisions it makes."""
        from gymconsole.engine.approvals import ApprovalStore, AuditEntry

        risk = REGISTRY[rule.tool].risk if rule.tool in REGISTRY else ""
        await ApprovalStore(self.db, self.clock).audit(AuditEntry(
            None, "", rule.tool, risk, decision, actor, via, 0, f"standing rule #{rule.id}: {rule.describe()}"
            + (f" ({rule.note})" if rule.note else "")), tx)

    async def add(self, tool: str, conditions: list[str], *, days: int, max_per_day: int | None = None,
                  max_amount_per_day: float | None = None, note: str = "", actor: str, via: str = "cli") -> Rule:
        act = REGISTRY.get(tool)
        if act is None or act.kind != "act":
            acting = sorted(name for name, t in REGISTRY.items() if t.kind == "act")
            raise RuleError(f"unknown acting tool {tool!r}; rules apply to: {', '.join(acting)}")
        if not 1 <= days <= MAX_DAYS:
            raise RuleError(f"a rule must expire within 1 to {MAX_DAYS} days (asked: {days})")
        if max_per_day is None and max_amount_per_day is None:
            raise RuleError("give a daily limit: --per-day N (targets a day) or --max-amount X (dollars a day)")
        if (max_per_day is not None and max_per_day < 1) or (max_amount_per_day is not None and max_amount_per_day < 0):
            raise RuleError("daily limits must be positive")
        parsed = [Condition.parse(text) for text in conditions]
        now = self.clock.now()
        expires = iso(now + timedelta(days=days))
        async with self.db.write() as tx:
            rule_id = await tx.insert(
                "INSERT INTO approval_rules (tool, conditions, max_per_day, max_amount_per_day, expires_at, note, "
                "created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [tool, json.dumps([c.__dict__ for c in parsed]), max_per_day, max_amount_per_day, expires,
                 note.strip()[:200], iso(now), actor])
            assert rule_id is not None
            rule = Rule(rule_id, tool, parsed, max_per_day, max_amount_per_day, expires, note.strip()[:200], iso(now),
                        actor)
            await self._audit(tx, rule, "rule_added", actor, via)
        return await self.get(rule_id)

    async def get(self, rule_id: int) -> Rule:
        row = await self.db.fetch_one("SELECT * FROM approval_rules WHERE id = ?", [rule_id])
        if row is None:
            raise RuleError(f"no rule #{rule_id}")
        rule = _rule(row)
        rule.uses = await self.db.fetch_all(
            "SELECT at, day, run_id, workflow, item_count, amount, detail FROM rule_uses WHERE rule_id = ? "
            "ORDER BY id DESC LIMIT 20", [rule_id])
        return rule

    async def list(self, *, include_inactive: bool = False) -> list[Rule]:
        where = "" if include_inactive else "WHERE revoked_at IS NULL AND expires_at > ?"
        params = [] if include_inactive else [iso(self.clock.now())]
        rows = await self.db.fetch_all(f"SELECT id FROM approval_rules {where} ORDER BY id", params)
        return [await self.get(row["id"]) for row in rows]

    async def revoke(self, rule_id: int, *, actor: str, via: str = "cli") -> Rule:
        rule = await self.get(rule_id)
        if rule.revoked_at:
            raise RuleError(f"rule #{rule_id} was already revoked by {rule.revoked_by} at {rule.revoked_at}")
        async with self.db.write() as tx:
            if await tx.execute("UPDATE approval_rules SET revoked_at = ?, revoked_by = ? WHERE id = ? "
                                "AND revoked_at IS NULL", [iso(self.clock.now()), actor, rule_id]):
                await self._audit(tx, rule, "rule_revoked", actor, via)
        return await self.get(rule_id)

    async def decide(self, ctx: ToolContext, plan: ActionPlan) -> Decision | None:
        """An approval by the first active rule that covers the whole plan within today's limit, or None."""
        if not plan.items:
            return None
        now = iso(self.clock.now())
        if not await self.db.fetch_value("SELECT 1 FROM approval_rules WHERE tool = ? AND revoked_at IS NULL "
                                         "AND expires_at > ? LIMIT 1", [plan.tool, now]):
            return None  # no rule for this act: no write lock taken
        shared = {name: plan.args[name] for name in PLAN_FIELDS if name in plan.args}
        items = [{**item.as_dict(), **shared} for item in plan.items]
        amount = _plan_amount(plan)
        day = self._today()
        async with self.db.write() as tx:  # the limit check and the use are one transaction
            rows = await tx.fetch_all("SELECT * FROM approval_rules WHERE tool = ? AND revoked_at IS NULL "
                                      "AND expires_at > ? ORDER BY id", [plan.tool, now])
            for rule in map(_rule, rows):
                if not all(c.holds(item) for item in items for c in rule.conditions):
                    continue
                used = await tx.fetch_one("SELECT COALESCE(SUM(item_count), 0) AS n, COALESCE(SUM(amount), 0) AS "
                                          "amount FROM rule_uses WHERE rule_id = ? AND day = ?", [rule.id, day])
                assert used is not None
                if rule.max_per_day is not None and used["n"] + len(items) > rule.max_per_day:
                    continue
                if rule.max_amount_per_day is not None and used["amount"] + amount > rule.max_amount_per_day + 1e-9:
                    continue
                names = ", ".join(f"{item.label} #{item.target_id}" for item in plan.items[:5])
                await tx.insert("INSERT INTO rule_uses (rule_id, day, at, run_id, workflow, item_count, amount, "
                                "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                [rule.id, day, now, ctx.run_id, ctx.workflow, len(items), amount,
                                 f"{plan.title}: {names}{' ...' if len(items) > 5 else ''}"])
                return Decision("approved", "rule", f"rule #{rule.id}",
                                f"standing rule #{rule.id} (made by {rule.created_by}): {rule.describe()}")
        return None


async def standing_decision(db: Database, config: Config, clock: Clock, ctx: ToolContext,
                            plan: ActionPlan) -> Decision | None:
    """The gate's one hook: a rule's approval for a plan the policy would ask a person about, or None."""
    return await RuleBook(db, config, clock).decide(ctx, plan)
