"""How a refund request is decided when it is asked (docs/rules.md §8), on plain values.

`first_decision(case, rules, now)` is the whole rule: a request asked after the window is
rejected; "out of zone" on a lead bought as extended reach is rejected (the catalogue showed the
distance: finding F12); an agency whose approved refunds are over the review rate goes to
finance whatever the case; a case our own records prove (consent withdrawn, the same person
bought before, a phone number that cannot be dialled) is approved in full; anything else waits
for finance. The service (`engine.refunds.requesting.request_refund`) reads the facts, asks this,
and does what it answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# A lead reached beyond the agency's zone says so in the catalogue before it is bought: buying it
# accepts the distance, so "out of zone" is no ground for a refund (finding F12). A lead that was
# in the zone when it was allocated is not provably out of it either: finance decides.
EXTENDED_REACH = ("extended_30", "extended_50")


@dataclass(frozen=True)
class Case:
    """What the records say about the purchase a refund is asked for."""

    reason: str
    bought_at: datetime
    reach: str | None  # the allocation's reach when it was bought
    consent_withdrawn: bool
    same_person_bought_before: bool  # by this agency, before this purchase (phone or e-mail)
    phone_dialable: bool
    refunded_30d_cents: int  # the agency's approved refunds over the last 30 days
    bought_30d_cents: int  # the agency's purchases over the last 30 days


@dataclass(frozen=True)
class Rules:
    window: timedelta
    review_rate_bp: int  # over this share of the month's purchases, finance reviews


@dataclass(frozen=True)
class Decision:
    status: str  # rejected | approved | pending
    rule: str | None  # auto:<rule> when a rule decided
    review_reason: str | None = None  # why finance must look, beyond the case itself


def first_decision(case: Case, rules: Rules, now: datetime) -> Decision:
    if now > case.bought_at + rules.window:
        return Decision("rejected", "auto:late")
    if case.reason == "out_of_zone" and case.reach in EXTENDED_REACH:
        return Decision("rejected", "auto:bought_as_extended")
    if over_review_rate(case.refunded_30d_cents, case.bought_30d_cents, rules.review_rate_bp):
        return Decision("pending", None, "refund_rate_over_threshold")
    proof = provable(case)
    if proof is None:
        return Decision("pending", None)
    return Decision("approved", f"auto:{proof}")


def over_review_rate(refunded_cents: int, bought_cents: int, rate_bp: int) -> bool:
    """The agency's approved refunds are over `rate_bp` of its purchases (none bought: never)."""
    return bought_cents > 0 and refunded_cents * 10_000 > bought_cents * rate_bp


def provable(case: Case) -> str | None:
    """The rule that proves the case from our own records, if one does."""
    if case.consent_withdrawn:
        return "consent_withdrawn"
    if case.reason == "duplicate" and case.same_person_bought_before:
        return "duplicate"
    if case.reason == "wrong_number" and not case.phone_dialable:
        return "invalid_phone"
    return None
