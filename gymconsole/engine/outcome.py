"""What a run actually did, from facts rather than the model's word.

Acts are counted per target from the acting tools' results (the gate's
decisions and the guard rails' skips) and, for acts carried out, from the
ledger (``effects`` rows this run marked done).  When the model's summary
claims acts that did not happen, the run gets an ``attention`` note for the
manager: "the model reported acting, but 0 acts were carried out, 7 were
skipped by the rules".
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from gymconsole.db import Database

ACT_KEYS = ("done", "skipped", "denied", "pending", "failed")

_CLAIM = re.compile(r"\b(sent|queued|notified|emailed|texted|messaged|contacted|suspended|restored|escalated|"
                    r"credited|rewarded|issued|flagged)\b", re.I)
_GENERIC = re.compile(r"\b(done|completed|handled|processed|taken care of|dealt with)\b", re.I)
"""Words that claim acts only when they say whom: "everyone handled", "all 7 processed" (not a bare "Done.")."""
_WHOM = re.compile(r"\b(everyone|everybody|all|each|every|members?|prospects?|invoices?|referrals?|\d+)\b", re.I)
_FIRST_PERSON = re.compile(r"\b(I|I'(ve|m|ll|d))\b|(?i:\bwe('ve)?\b)")
"""Who acted, in an answer that may also tell what earlier runs did: "I sent", "we've restored"."""
_NEGATION = re.compile(r"\b(no|not|nothing|none|never|without|zero|0|neither|nor|would)\b|n't\b|\bskipp", re.I)


def count_acts(acts: Counter[str], result: dict[str, Any]) -> None:
    """Add one acting tool call's targets to ``acts`` (from its result and the gate's decision)."""
    if "not_done" in result:
        key = "pending" if result["not_done"] == "timed_out" else "denied"
        acts[key] += int(result.get("would_have_affected") or 0)
        return
    if result.get("dry_run"):
        acts["skipped"] += int(result.get("skipped_count") or 0)
        return
    not_approved = int((result.get("skipped_by_reason") or {}).get("not approved", 0))  # a partial approval
    acts["done"] += int(result.get("done_count") or 0)
    acts["skipped"] += int(result.get("skipped_count") or 0) - not_approved
    acts["denied"] += not_approved
    acts["failed"] += int(result.get("failed_count") or 0)


async def ledger_done(db: Database, run_id: int) -> int:
    """Acts the ledger records as carried out by this run."""
    return int(await db.fetch_value("SELECT COUNT(*) FROM effects WHERE run_id = ? AND status = 'done'",
                                    (run_id,)) or 0)


def claims_acting(summary: str, *, first_person: bool = False) -> bool:
    """Whether some sentence of the summary says something was done, without a negation (``first_person``:
    and says that the writer did it)."""
    for sentence in re.split(r"(?<=[.!?;])\s+|\n+", summary):
        claim = _CLAIM.search(sentence) or (_GENERIC.search(sentence) and _WHOM.search(sentence))
        if claim and not _NEGATION.search(sentence) and (not first_person or _FIRST_PERSON.search(sentence)):
            return True
    return False


def attention_note(summary: str, acts: dict[str, int], dry_run: bool, *, reports: bool = False) -> str | None:
    """A note when the summary claims acts the facts do not show.

    ``reports``: the run answers questions (the assistant), so when it attempted no act its answer may well
    tell what earlier runs did ("Lena was suspended on Monday"); then only a claim in the first person
    ("I sent her a reminder") is one about this run.
    """
    first_person = reports and not any(acts.values())
    if dry_run or acts.get("done", 0) > 0 or not claims_acting(summary, first_person=first_person):
        return None
    parts = ["the model reported acting, but 0 acts were carried out"]
    labels = {"skipped": "skipped by the rules", "denied": "denied", "pending": "waiting for approval",
              "failed": "failed"}
    parts += [f"{acts[key]} {'was' if acts[key] == 1 else 'were'} {label}"
              for key, label in labels.items() if acts.get(key)]
    return ", ".join(parts)


def describe_acts(acts: dict[str, int]) -> str:
    """"acts: 3 done, 7 skipped" (only the non-zero ones; "acts: none" when nothing was attempted)."""
    shown = [f"{acts[key]} {key}" for key in ACT_KEYS if acts.get(key)]
    return "acts: " + (", ".join(shown) if shown else "none")
