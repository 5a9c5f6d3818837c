"""What each tool takes: the one definition of its arguments (names, types, bounds, descriptions).

Each tool names one of these TypedDicts (``Tool.args``).  From it pydantic
makes both the JSON schema the model is shown and the core schema its input is
validated with; ``python -m gymconsole.tools.schemagen`` writes the two into
``schemas.json``, which is what runs (see :mod:`gymconsole.tools.schemas`).
So a command that calls one tool validates with ``pydantic_core`` alone and
never imports this module or pydantic's Python layer; a test keeps the file in
step with this one.

The rules every tool shares are not written here but enforced by the
generator: unknown arguments are refused and numbers are strict (a JSON
``true`` is not member 1, ``"5"`` is not 5; both are every object's
``ARGS`` config), and integers fit in 64 bits (added to every number's core
schema, so the JSON schema the model sees is unchanged).  A validated call is a
plain ``dict`` with every default filled in.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict

from gymconsole.tools.schemas import MAX_DOLLARS, SAMPLE_SIZE

ARGS = ConfigDict(extra="forbid", strict=True)
"""Every arguments object: unknown arguments refused, numbers only from JSON numbers."""


ProspectStage = Literal["new", "contacted", "toured", "trial"]
MembershipType = Literal["monthly", "annual", "pay_per_visit", "family"]
Channel = Annotated[Literal["email", "sms"], Field("email", description="How it is sent.")]
Limit = Annotated[int, Field(SAMPLE_SIZE, ge=1, le=20, description="How many sample rows to include (1-20).")]
InactiveDays = Annotated[int | None, Field(None, ge=1, le=3650, description="Only members with no visit in this many days.")]


# --- read tools ----------------------------------------------------------------------------------------------------


@with_config(ARGS)
class ProspectFilters(TypedDict):
    stage: Annotated[ProspectStage | None, Field(None, description="Only prospects at this stage.")]
    source: Annotated[str | None, Field(None, max_length=40, description="Only prospects from this source, e.g. 'web'.")]


@with_config(ARGS)
class ProspectArgs(TypedDict):
    limit: Limit
    filters: Annotated[ProspectFilters | None, Field(None, description="Optional filters.")]


@with_config(ARGS)
class MemberFilters(TypedDict):
    membership_type: Annotated[MembershipType | None, Field(None, description="Only this membership type.")]
    inactive_days: InactiveDays


@with_config(ARGS)
class MemberArgs(TypedDict):
    limit: Limit
    filters: Annotated[MemberFilters | None, Field(None, description="Optional filters.")]


@with_config(ARGS)
class PpvFilters(TypedDict):
    inactive_days: InactiveDays


@with_config(ARGS)
class PpvArgs(TypedDict):
    limit: Limit
    filters: Annotated[PpvFilters | None, Field(None, description="Optional filters.")]


@with_config(ARGS)
class PastDueFilters(TypedDict):
    min_days: Annotated[int | None, Field(None, ge=0, le=3650, description="Only members at least this many days past due.")]
    min_amount: Annotated[float | None, Field(None, ge=0, le=MAX_DOLLARS, description="Only balances of at least this many dollars.")]


@with_config(ARGS)
class PastDueArgs(TypedDict):
    limit: Limit
    filters: Annotated[PastDueFilters | None, Field(None, description="Optional filters.")]


@with_config(ARGS)
class TrainingFilters(TypedDict):
    min_amount: Annotated[float | None, Field(None, ge=0, le=MAX_DOLLARS, description="Only amounts past due of at least this many dollars.")]
    trainer: Annotated[str | None, Field(None, max_length=60, description="Only clients of this trainer.")]


@with_config(ARGS)
class TrainingArgs(TypedDict):
    limit: Limit
    filters: Annotated[TrainingFilters | None, Field(None, description="Optional filters.")]


@with_config(ARGS)
class ReferralFilters(TypedDict):
    status: Annotated[Literal["joined", "pending"] | None, Field(None, description="'joined' (reward due) or 'pending'.")]


@with_config(ARGS)
class ReferralArgs(TypedDict):
    limit: Limit
    filters: Annotated[ReferralFilters | None, Field(None, description="Optional filters.")]


@with_config(ARGS)
class InvoiceFilters(TypedDict):
    status: Annotated[Literal["open", "paid", "void"] | None, Field(None, description="Only invoices with this status.")]
    min_amount: Annotated[float | None, Field(None, ge=0, le=MAX_DOLLARS, description="Only invoices of at least this many dollars.")]


@with_config(ARGS)
class InvoiceArgs(TypedDict):
    limit: Limit
    filters: Annotated[InvoiceFilters | None, Field(None, description="Optional filters.")]


@with_config(ARGS)
class DoorFilters(TypedDict):
    access_state: Annotated[Literal["active", "suspended"] | None, Field(None, description="Only credentials in this state.")]


@with_config(ARGS)
class DoorStatusArgs(TypedDict):
    limit: Limit
    filters: Annotated[DoorFilters | None, Field(None, description="Optional filters.")]


@with_config(ARGS)
class MemberLookupArgs(TypedDict):
    member_id: Annotated[int, Field(ge=1, description="The member's ID.")]


@with_config(ARGS)
class QueryArgs(TypedDict):
    sql: Annotated[str, Field(min_length=1, max_length=4000,
                              description="One SELECT (or WITH ... SELECT) statement over the published views.")]


# --- acting tools --------------------------------------------------------------------------------------------------


@with_config(ARGS)
class MemberIdsArgs(TypedDict):
    member_ids: Annotated[list[int], Field(min_length=1, max_length=200, description="IDs of the members.")]


@with_config(ARGS)
class SuspendArgs(MemberIdsArgs):
    reason: Annotated[str, Field("past due", max_length=200, description="Why, for the door log.")]


@with_config(ARGS)
class RestoreArgs(MemberIdsArgs):
    reason: Annotated[str, Field("paid in full", max_length=200, description="Why, for the door log.")]


@with_config(ARGS)
class CampaignArgs(TypedDict):
    audience: Annotated[Literal["prospects", "green_members", "ppv_members"], Field(description="Who receives it.")]
    stage: Annotated[ProspectStage | None, Field(None, description="Prospects only: this stage.")]
    channel: Channel
    subject: Annotated[str, Field("", max_length=120, description="Email subject.")]
    template: Annotated[str, Field(min_length=1, max_length=1000,
                                   description="Message text; may use {first_name}, {last_name}, {gym_name}. The gym's "
                                               "footer (and a STOP line for SMS) is added below it.")]
    max_recipients: Annotated[int, Field(50, ge=1, le=1000, description="Most people to send to in this call.")]


@with_config(ARGS)
class NotifyArgs(MemberIdsArgs):
    kind: Annotated[Literal["reminder", "final_notice"], Field("reminder", description="Friendly reminder or final notice.")]
    channel: Channel


@with_config(ARGS)
class RewardArgs(TypedDict):
    referral_ids: Annotated[list[int], Field(min_length=1, max_length=200, description="IDs of referrals that joined.")]


@with_config(ARGS)
class InvoiceFlag(TypedDict):
    invoice_id: Annotated[int, Field(ge=1, description="The invoice to flag for the manager.")]
    reason: Annotated[Literal["duplicate", "large_amount", "zero_or_negative", "open_overdue", "other"],
                      Field(description="Why it needs a look.")]
    note: Annotated[str, Field("", max_length=300, description="A short note for the manager.")]


@with_config(ARGS)
class FlagArgs(TypedDict):
    # One call for all of a review's invoices: nine one-invoice calls cost nine tool calls and nine results
    # in the conversation (what a run pays for), and nine approvals where one is asked.
    invoices: Annotated[list[InvoiceFlag], Field(min_length=1, max_length=50, description="The invoices to flag, "
                                                 "each with its reason and note; one invoice once.")]
