"""The purchase's refusals as plain rules (engine/sales/rules.py): their order, and the answer
each one is. The database function applies the same rules (tests/integration/
test_purchase_refusals.py compares the two)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import Conflict, Forbidden, NotFound, PaymentRequired, Unauthenticated
from engine.sales.rules import Ask, Seen, answer, refusal

PHASES = ("offered_exclusive", "offered_shared", "sold_out", "expired", "withdrawn")
prices = st.integers(min_value=0, max_value=100_000)

seen_states = st.builds(
    Seen,
    key_live=st.booleans(),
    role=st.sampled_from(("owner", "buyer", "viewer", "admin")),
    key_reused=st.booleans(),
    offered=st.booleans(),
    phase=st.sampled_from(PHASES),
    exclusive_price_cents=prices,
    shared_price_cents=prices,
    suspended=st.booleans(),
    already=st.booleans(),
    paused=st.booleans(),
    budget_cents=st.none() | prices,
    spent_cents=prices,
)
asks = st.builds(Ask, mode=st.sampled_from(("exclusive", "shared")), price_cents=prices)

# Each rule, as a condition on what was seen, in the order they are checked.
ORDER = [
    ("invalid_api_key", lambda a, s: not s.key_live),
    ("forbidden_role", lambda a, s: s.role not in ("owner", "buyer")),
    ("idempotency_key_reused", lambda a, s: s.key_reused),
    ("lead_not_found", lambda a, s: not s.offered),
    ("account_suspended", lambda a, s: s.suspended),
    ("already_purchased", lambda a, s: s.already),
    ("agency_paused", lambda a, s: s.paused),
    ("lead_unavailable", lambda a, s: s.phase not in ("offered_exclusive", "offered_shared")),
    ("mode_unavailable", lambda a, s: a.mode != s.phase.removeprefix("offered_")),
    ("price_changed", lambda a, s: a.price_cents != _price(s)),
    (
        "budget_exceeded",
        lambda a, s: s.budget_cents is not None and s.spent_cents + _price(s) > s.budget_cents,
    ),
]


def _price(seen: Seen) -> int:
    exclusive = seen.phase == "offered_exclusive"
    return seen.exclusive_price_cents if exclusive else seen.shared_price_cents


@given(asks, seen_states)
def test_the_first_rule_broken_is_the_refusal_and_none_broken_is_a_sale(ask: Ask, seen: Seen):
    broken = next((code for code, breaks in ORDER if breaks(ask, seen)), None)
    found = refusal(ask, seen)
    assert (found.code if found else None) == broken


@given(asks, seen_states)
def test_a_refusal_carries_what_the_buyer_needs_to_try_again(ask: Ask, seen: Seen) -> None:
    found = refusal(ask, seen)
    if found is None:
        return
    error = found.error()
    assert error.code == found.code
    if found.code == "mode_unavailable":
        assert error.extra == {"mode": seen.phase.removeprefix("offered_")}
    elif found.code == "price_changed":
        assert error.extra == {"price_cents": _price(seen)}
        assert _price(seen) != ask.price_cents
    elif found.code == "budget_exceeded":
        assert error.extra == {"budget_cents": seen.budget_cents, "spent_cents": seen.spent_cents}
    else:
        assert error.extra == {}


@given(asks, seen_states)
def test_a_sale_is_at_the_price_shown_in_the_mode_on_sale_within_the_budget(
    ask: Ask, seen: Seen
) -> None:
    if refusal(ask, seen) is not None:
        return
    assert seen.phase == f"offered_{ask.mode}"
    assert ask.price_cents == _price(seen)
    assert seen.budget_cents is None or seen.spent_cents + ask.price_cents <= seen.budget_cents
    assert seen.key_live
    assert not (seen.suspended)
    assert not (seen.paused)
    assert not (seen.already)


def test_a_budget_spent_to_the_cent_still_buys() -> None:
    seen = Seen(exclusive_price_cents=5_000, budget_cents=10_000, spent_cents=5_000)
    assert refusal(Ask("exclusive", 5_000), seen) is None
    over = refusal(Ask("exclusive", 5_000), replace(seen, spent_cents=5_001))
    assert over is not None
    assert over.code == "budget_exceeded"


@pytest.mark.parametrize(
    ("code", "facts", "kind", "detail"),
    [
        ("invalid_api_key", {}, Unauthenticated, "A valid API key is required."),
        ("forbidden_role", {}, Forbidden, "This action needs the role owner or buyer."),
        ("lead_not_found", {}, NotFound, "No lead with this id is offered to your agency."),
        ("lead_unavailable", {"phase": "expired"}, Conflict, "This lead is no longer on sale "
         "(expired)."),
        ("lead_unavailable", {}, Conflict, "This lead is no longer on sale."),
        ("mode_unavailable", {"mode": "shared"}, Conflict, "This lead is offered shared only "
         "now."),
        ("budget_exceeded", {"budget_cents": 1, "spent_cents": 0}, PaymentRequired,
         "This purchase would exceed your monthly budget."),
    ],
)  # fmt: skip
def test_each_refusal_is_one_kind_of_error_with_one_sentence(
    code: str, facts: dict[str, object], kind: type, detail: str
) -> None:
    error = answer(code, facts)
    assert type(error) is kind
    assert error.message == detail


def test_a_code_the_rules_do_not_know_is_a_bug_not_an_answer() -> None:
    with pytest.raises(ValueError, match="unknown refusal"):
        answer("lead_stolen", {})
