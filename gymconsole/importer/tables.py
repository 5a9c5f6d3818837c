"""What each importable table holds: its columns, their kinds, synonyms and examples.

The header row of ``gymconsole import --template TABLE`` is each spec's field
names; the default mapping also accepts the synonyms (compared without case,
spaces, underscores or dashes, so ``First Name``, ``first_name`` and
``FirstName`` are one header).  Every table is keyed by the membership
system's own ID (stored as ``external_id``); references to members name the
member's ID in that system, never the console's row ID.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gymconsole.importer.values import word_key

Kind = Literal["text", "money", "date", "moment", "flag", "count", "choice", "ref"]


def _words(mapping: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Status words (keyed by :func:`word_key`) to the schema's values."""
    return {word_key(word): value for value, words in mapping.items() for word in (value, *words)}


MEMBER_STATUS = _words({
    "active": ("current", "ok", "good standing", "past due", "overdue", "delinquent", "late", "open"),
    "frozen": ("freeze", "on hold", "hold", "paused", "pause", "suspended", "medical hold"),
    "cancelled": ("canceled", "cancel", "terminated", "inactive", "expired", "closed", "ended", "former"),
})
STANDING = _words({
    "green": ("good", "ok", "current", "paid", "paid up"),
    "yellow": ("warning", "late", "amber", "at risk"),
    "red": ("bad", "collections", "delinquent", "in collections"),
})
MEMBERSHIP_TYPE = _words({
    "monthly": ("month", "monthly membership", "standard", "month to month", "basic", "premium", "unlimited"),
    "annual": ("yearly", "year", "12 month", "12 months", "annual membership", "paid in full"),
    "pay_per_visit": ("ppv", "pay per visit", "drop in", "dropin", "punch card", "class pack", "visit pass"),
    "family": ("household", "couple", "family membership", "add on"),
})
PROSPECT_STAGE = _words({
    "new": ("lead", "inquiry", "enquiry", "open", "new lead"),
    "contacted": ("follow up", "followup", "emailed", "called", "in progress", "working"),
    "toured": ("tour", "tour done", "visited", "tour completed"),
    "trial": ("trial pass", "free trial", "on trial", "guest pass"),
    "lost": ("dead", "closed lost", "not interested", "unqualified", "lapsed"),
    "joined": ("converted", "won", "member", "closed won", "signed up"),
})
INVOICE_STATUS = _words({
    "open": ("unpaid", "due", "past due", "overdue", "outstanding", "partially paid", "partial", "pending", "failed"),
    "paid": ("settled", "closed", "complete", "completed", "collected"),
    "void": ("voided", "cancelled", "canceled", "written off", "refunded", "credit"),
})
REFERRAL_STATUS = _words({
    "pending": ("open", "new", "invited"),
    "joined": ("converted", "signed up", "member"),
    "rewarded": ("paid", "credited", "reward paid", "reward issued"),
    "expired": ("lost", "closed", "declined"),
})
TRAINING_STATUS = _words({
    "active": ("current", "ongoing", "open"),
    "paused": ("on hold", "hold", "frozen"),
    "ended": ("completed", "complete", "cancelled", "canceled", "expired", "finished"),
})
ACCESS_STATE = _words({
    "active": ("enabled", "allowed", "granted", "on", "ok", "valid"),
    "suspended": ("disabled", "blocked", "denied", "off", "locked", "locked out", "inactive"),
})


@dataclass(frozen=True)
class Column:
    """One field of an export: the header it is known by, what it holds, where it goes."""

    name: str
    kind: Kind
    db: str = ""
    required: bool = False
    synonyms: tuple[str, ...] = ()
    example: str = ""
    choices: dict[str, str] = field(default_factory=dict)
    refers: str = ""
    """For a reference: the table whose external ID this names."""

    @property
    def target(self) -> str:
        return self.db or self.name

    def headers(self) -> list[str]:
        return [self.name, *self.synonyms]


@dataclass(frozen=True)
class TableSpec:
    """An importable table: its key column, its other columns, and the defaults of new rows."""

    table: str
    key: Column
    columns: tuple[Column, ...]
    defaults: dict[str, object]
    full_export: bool = False
    """A file is the whole list (rows missing from it are marked "not in the latest export")."""

    @property
    def all_columns(self) -> tuple[Column, ...]:
        return (self.key, *self.columns)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.all_columns if c.name == name), None)


def _key(name: str, *synonyms: str, example: str) -> Column:
    return Column(name, "text", db="external_id", required=True, synonyms=synonyms, example=example)


def _member_ref(name: str = "member_id", *, required: bool = True, db: str = "member_id") -> Column:
    synonyms = ("member id", "member number", "member no", "member #", "membership id", "customer id", "client id",
                "account id", "account number") if name == "member_id" else ()
    return Column(name, "ref", db=db, required=required, synonyms=synonyms, example="M1001", refers="members")


PEOPLE = (
    Column("first_name", "text", required=True, synonyms=("first", "given name", "forename", "fname"), example="Ana"),
    Column("last_name", "text", required=True, synonyms=("last", "surname", "family name", "lname"), example="Núñez"),
    Column("email", "text", synonyms=("email address", "e-mail", "mail"), example="ana@example.com"),
    Column("phone", "text", synonyms=("phone number", "mobile", "cell", "mobile phone", "cell phone", "telephone"),
           example="555-0142"),
)

SPECS: dict[str, TableSpec] = {spec.table: spec for spec in (
    TableSpec("members", _key("member_id", "member id", "member number", "member no", "member #", "membership id",
                              "customer id", "client id", "account id", "barcode", "id", example="M1001"), (
        *PEOPLE,
        Column("membership_type", "choice", synonyms=("membership", "plan", "membership plan", "contract", "type",
                                                      "agreement type"), example="Monthly", choices=MEMBERSHIP_TYPE),
        Column("standing", "choice", synonyms=("account standing", "billing standing"), example="Green",
               choices=STANDING),
        Column("status", "choice", required=True, synonyms=("member status", "membership status", "state"),
               example="Active", choices=MEMBER_STATUS),
        Column("join_date", "date", required=True, synonyms=("joined", "start date", "member since", "sign up date",
                                                             "signup date", "join"), example="2025-03-14"),
        Column("last_visit", "date", synonyms=("last check in", "last checkin", "last visit date", "last attended"),
               example="2026-11-28"),
        Column("balance", "money", db="balance_cents", synonyms=("balance due", "amount due", "past due amount",
                                                                 "amount owed", "owed", "outstanding"),
               example="$64.00"),
        Column("past_due_since", "date", synonyms=("past due date", "overdue since", "delinquent since",
                                                   "past due since date"), example="2026-11-10"),
        Column("opted_out", "flag", synonyms=("opt out", "unsubscribed", "do not contact", "email opt out",
                                              "marketing opt out", "no marketing"), example="no"),
        Column("notes", "text", synonyms=("note", "comments", "comment"), example=""),
    ), {"membership_type": "monthly", "standing": "green", "balance_cents": 0, "opted_out": 0, "notes": ""},
        full_export=True),
    TableSpec("prospects", _key("prospect_id", "lead id", "prospect id", "prospect number", "id", example="L2001"), (
        *PEOPLE,
        Column("source", "text", synonyms=("lead source", "how heard", "referral source", "channel"), example="web"),
        Column("stage", "choice", required=True, synonyms=("status", "lead status", "pipeline stage", "lead stage"),
               example="New", choices=PROSPECT_STAGE),
        Column("created_at", "moment", required=True, synonyms=("created", "created on", "lead date", "date added",
                                                                "added", "inquiry date"), example="2026-11-20"),
        Column("last_contacted", "moment", synonyms=("last contact", "last contacted on", "last contact date"),
               example=""),
        Column("opted_out", "flag", synonyms=("opt out", "unsubscribed", "do not contact", "email opt out"),
               example="no"),
        Column("notes", "text", synonyms=("note", "comments", "comment"), example=""),
    ), {"source": "unknown", "opted_out": 0, "notes": ""}, full_export=True),
    TableSpec("invoices", _key("invoice_id", "invoice id", "invoice number", "invoice no", "invoice #", "id",
                               example="INV-5001"), (
        _member_ref(),
        Column("issued_on", "date", required=True, synonyms=("invoice date", "issued", "date", "issue date",
                                                             "billing date"), example="2026-11-01"),
        Column("due_on", "date", synonyms=("due date", "due"), example="2026-11-15"),
        Column("amount", "money", db="amount_cents", required=True, synonyms=("total", "amount due", "invoice total",
                                                                              "invoice amount"), example="$64.00"),
        Column("status", "choice", required=True, synonyms=("invoice status", "state"), example="Open",
               choices=INVOICE_STATUS),
        Column("description", "text", synonyms=("item", "memo", "details"), example="Monthly dues"),
        Column("paid_on", "date", synonyms=("paid date", "date paid", "payment date"), example=""),
    ), {"description": ""}),
    TableSpec("payments", _key("payment_id", "payment id", "transaction id", "receipt number", "receipt #", "id",
                               example="PAY-7001"), (
        _member_ref(),
        Column("invoice_id", "ref", db="invoice_id", synonyms=("invoice number", "invoice #", "invoice no"),
               example="INV-5001", refers="invoices"),
        Column("amount", "money", db="amount_cents", required=True, synonyms=("amount paid", "payment amount", "total"),
               example="$64.00"),
        Column("paid_on", "date", required=True, synonyms=("payment date", "date", "paid date", "date paid"),
               example="2026-11-03"),
        Column("method", "text", synonyms=("payment method", "type", "payment type", "tender"), example="card"),
    ), {"method": "unknown"}),
    TableSpec("referrals", _key("referral_id", "referral id", "referral number", "id", example="R301"), (
        _member_ref("referrer_member_id", db="referrer_id"),
        Column("referred_name", "text", required=True, synonyms=("referred", "friend name", "referral name",
                                                                 "referred person"), example="Sam Lee"),
        _member_ref("referred_member_id", required=False, db="referred_member_id"),
        Column("referred_on", "date", required=True, synonyms=("referral date", "date referred", "date"),
               example="2026-10-20"),
        Column("joined_on", "date", synonyms=("join date", "date joined", "joined"), example=""),
        Column("status", "choice", required=True, synonyms=("referral status",), example="Pending",
               choices=REFERRAL_STATUS),
        Column("reward", "money", db="reward_cents", synonyms=("reward amount", "credit"), example=""),
    ), {"reward_cents": 0}),
    TableSpec("training_clients", _key("client_id", "training client id", "package id", "agreement id", "id",
                                       example="PT401"), (
        _member_ref(),
        Column("trainer", "text", required=True, synonyms=("coach", "trainer name", "instructor"), example="Jo Park"),
        Column("package", "text", required=True, synonyms=("package name", "plan", "sessions package", "product"),
               example="10 sessions"),
        Column("sessions_remaining", "count", synonyms=("sessions left", "remaining sessions", "remaining"),
               example="6"),
        Column("amount_past_due", "money", db="amount_past_due_cents", synonyms=("past due amount", "amount due",
                                                                                 "balance", "owed"), example="$0.00"),
        Column("past_due_since", "date", synonyms=("past due date", "overdue since"), example=""),
        Column("status", "choice", synonyms=("package status", "client status"), example="Active",
               choices=TRAINING_STATUS),
    ), {"sessions_remaining": 0, "amount_past_due_cents": 0, "status": "active"}),
    TableSpec("door_credentials", Column("member_id", "text", db="external_id", required=True, synonyms=(
        "member id", "member number", "member #", "customer id", "client id", "account id", "user id"),
        example="M1001"), (
        Column("badge_code", "text", required=True, synonyms=("badge", "card number", "card", "fob", "credential",
                                                               "barcode", "badge number", "key fob"),
               example="B-000123"),
        Column("access_state", "choice", required=True, synonyms=("access", "door access", "access status", "status",
                                                                  "state"), example="Active", choices=ACCESS_STATE),
        Column("changed_at", "moment", synonyms=("last changed", "updated", "updated at", "modified"), example=""),
    ), {"reason": "imported"}),
)}

TABLES: tuple[str, ...] = tuple(SPECS)
