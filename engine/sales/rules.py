"""Who may buy a lead, and why not (docs/rules.md §5): the purchase's refusals, in their order.

`refusal(ask, seen)` states the rules on plain values: the first rule a purchase breaks, or
None. The database function `buy_lead` (migration 0028) applies them in the same order, on what
it reads under its locks, and raises the refusal's code; `answer` turns a code and its facts
into the error the caller gets. Tests drive the database function through every refusal and
compare with this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.errors import (
    Conflict,
    Forbidden,
    MandatError,
    NotFound,
    PaymentRequired,
    Unauthenticated,
)
from engine.sales.offers import mode_of

BUYER_ROLES = ("owner", "buyer")


@dataclass(frozen=True)
class Ask:
    """What the buyer asks: the mode and the price they saw."""

    mode: str
    price_cents: int


@dataclass(frozen=True)
class Seen:
    """What the purchase finds, in the order it looks: the caller's key, the Idempotency-Key,
    then under the offer's lock the offer and its phase, under the agency's lock the agency."""

    key_live: bool = True  # the API key is not revoked (a person signed in: always)
    role: str = "buyer"
    key_reused: bool = False  # the Idempotency-Key answered another request
    offered: bool = True  # the offer exists and the homeowner's consent to this agency stands
    phase: str = "offered_exclusive"
    exclusive_price_cents: int = 0
    shared_price_cents: int = 0
    suspended: bool = False
    already: bool = False  # this agency bought this lead already
    paused: bool = False
    budget_cents: int | None = None
    spent_cents: int = 0  # on leads this month (Paris time), before this purchase


@dataclass(frozen=True)
class Refusal:
    code: str
    facts: dict[str, Any] = field(default_factory=dict)

    def error(self) -> MandatError:
        return answer(self.code, self.facts)


def refusal(ask: Ask, seen: Seen) -> Refusal | None:
    """The first rule this purchase breaks, or None: it goes through."""
    if not seen.key_live:
        return Refusal("invalid_api_key")
    if seen.role not in BUYER_ROLES:
        return Refusal("forbidden_role")
    if seen.key_reused:
        return Refusal("idempotency_key_reused")
    if not seen.offered:
        return Refusal("lead_not_found")
    if seen.suspended:
        return Refusal("account_suspended")
    if seen.already:
        return Refusal("already_purchased")
    if seen.paused:
        return Refusal("agency_paused")
    mode = mode_of(seen.phase)
    if mode is None:
        return Refusal("lead_unavailable", {"phase": seen.phase})
    if ask.mode != mode:
        return Refusal("mode_unavailable", {"mode": mode})
    price = seen.exclusive_price_cents if mode == "exclusive" else seen.shared_price_cents
    if ask.price_cents != price:
        return Refusal("price_changed", {"price_cents": price})
    if seen.budget_cents is not None and seen.spent_cents + price > seen.budget_cents:
        return Refusal(
            "budget_exceeded", {"budget_cents": seen.budget_cents, "spent_cents": seen.spent_cents}
        )
    return None


def answer(code: str, facts: dict[str, Any]) -> MandatError:
    """The error a refusal is to the caller: its status (the kind), code, sentence and fields."""
    if code == "invalid_api_key":
        return Unauthenticated("A valid API key is required.", code)
    if code == "forbidden_role":
        return Forbidden(f"This action needs the role {' or '.join(BUYER_ROLES)}.", code)
    if code == "idempotency_key_reused":
        return Conflict("This Idempotency-Key was used for another request.", code=code)
    if code == "lead_not_found":
        return NotFound("No lead with this id is offered to your agency.", code=code)
    if code == "account_suspended":
        return PaymentRequired(
            "Your account is suspended: settle the unpaid invoice to buy again.", code=code
        )
    if code == "already_purchased":
        return Conflict("Your agency already bought this lead.", code=code)
    if code == "agency_paused":
        return Conflict("Your agency is paused: resume it to buy leads.", code=code)
    if code == "lead_unavailable":
        phase = facts.get("phase")
        why = f" ({phase})" if phase else ""
        return Conflict(f"This lead is no longer on sale{why}.", code=code)
    if code == "mode_unavailable":
        return Conflict(f"This lead is offered {facts['mode']} only now.", code=code, **facts)
    if code == "price_changed":
        return Conflict("The price has changed: check it and buy again.", code=code, **facts)
    if code == "budget_exceeded":
        return PaymentRequired(
            "This purchase would exceed your monthly budget.", code=code, **facts
        )
    raise ValueError(f"unknown refusal {code!r}")
