"""The database function `buy_lead` refuses what the rules of engine/sales/rules.py refuse, in
the same order, with the same answer: each state below is made real in the database, the
purchase goes through the service the API calls, and its outcome is compared with
`refusal(ask, seen)` on the same facts. A refusal leaves nothing behind (no purchase, the
Idempotency-Key free again)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.authentication import authenticate
from engine.accounts.keys import Principal
from engine.errors import MandatError
from engine.sales.buy import PurchaseRequest
from engine.sales.flows import buy_lead
from engine.sales.rules import Ask, Seen, refusal
from tests.conftest import reset_database
from tests.market import buyers, end_exclusive_window, offered_lead, shift_offer

PHASES = ("offered_exclusive", "offered_shared", "sold_out", "expired", "withdrawn")


@dataclass(frozen=True)
class State:
    """A purchase's situation, as the test makes it in the database."""

    revoked: bool = False
    role_now: str = "buyer"  # the key's role when it buys (it authenticated as a buyer)
    key_reused: bool = False
    consent_withdrawn: bool = False
    phase: str = "offered_exclusive"
    suspended: bool = False
    already: bool = False
    paused: bool = False
    budget_left: int | None = None  # budget minus spent minus the price (None: no budget)
    spent: int = 0
    mode: str = "exclusive"
    price_off: int = 0  # the price asked minus the price on sale


def make(session: Session, state: State) -> tuple[PurchaseRequest, Seen, Principal, uuid.UUID]:
    (a,) = buyers(session, 1)
    lead = offered_lead(session, consent_to=[a])
    caller = authenticate(session, a.key)
    offer = session.execute(
        text("SELECT exclusive_price_cents, shared_price_cents FROM offer WHERE lead_id = :l"),
        {"l": lead},
    ).one()
    if state.phase != "offered_exclusive":
        end_exclusive_window(session, lead)
    if state.phase == "sold_out":
        shift_offer(session, lead, shared_buyers="shared_cap")
    if state.phase == "expired":
        shift_offer(
            session,
            lead,
            created_at="now() - interval '40 days'",
            exclusive_until="now() - interval '39 days'",
            expires_at="now() - interval '1 hour'",
        )
    if state.phase == "withdrawn":
        shift_offer(session, lead, withdrawn_at="now()", withdrawn_reason="'erasure'")
    on_sale = {
        "offered_exclusive": offer.exclusive_price_cents,
        "offered_shared": offer.shared_price_cents,
    }.get(
        state.phase,
        offer.exclusive_price_cents if state.mode == "exclusive" else offer.shared_price_cents,
    )
    budget = None if state.budget_left is None else state.spent + on_sale + state.budget_left
    ids = {"a": a.agency_id, "l": lead, "k": caller.key_id}
    statements = [
        (state.revoked, "UPDATE api_key SET revoked_at = now() WHERE id = :k"),
        (state.role_now != "buyer", f"UPDATE api_key SET role = '{state.role_now}' WHERE id = :k"),
        (state.key_reused, "INSERT INTO idempotency_key (agency_id, key, request_hash) "
                           "VALUES (:a, 'order-1', 'another body')"),
        (state.consent_withdrawn, "UPDATE lead_consent SET withdrawn_at = now() "
                                  "WHERE lead_id = :l AND agency_id = :a"),
        (state.suspended, "UPDATE agency SET status = 'suspended' WHERE id = :a"),
        (state.paused, "UPDATE agency SET paused = true WHERE id = :a"),
        (state.already, "INSERT INTO purchase (lead_id, agency_id, mode, price_cents, created_at,"
                        " allocation) VALUES (:l, :a, 'shared', 0, now(), '{}')"),
        (state.spent > 0, f"INSERT INTO agency_month_spend VALUES (:a, paris_month(now()), "
                          f"{state.spent})"),
        (budget is not None, f"UPDATE agency SET monthly_budget_cents = {budget} WHERE id = :a"),
    ]  # fmt: skip
    for wanted, statement in statements:
        if wanted:
            session.execute(text(statement), ids)
    session.commit()
    ask = Ask(state.mode, on_sale + state.price_off)
    seen = Seen(
        key_live=not state.revoked,
        role=state.role_now,
        key_reused=state.key_reused,
        offered=not state.consent_withdrawn,
        phase=state.phase,
        exclusive_price_cents=offer.exclusive_price_cents,
        shared_price_cents=offer.shared_price_cents,
        suspended=state.suspended,
        already=state.already,
        paused=state.paused,
        budget_cents=budget,
        spent_cents=state.spent,
    )
    request = PurchaseRequest(lead, ask.mode, ask.price_cents, "order-1")
    return request, seen, caller, a.agency_id


def check(session: Session, state: State) -> str | None:
    request, seen, caller, agency_id = make(session, state)
    expected = refusal(Ask(request.mode, request.price_cents), seen)
    answer, error = None, None
    try:
        answer = buy_lead(caller, request)
    except MandatError as refused:
        error = refused
    if error is not None:
        assert expected is not None, f"refused {error.code}, the rules sell"
        wanted = expected.error()
        assert (type(error), error.code, error.message, error.extra) == (
            type(wanted),
            wanted.code,
            wanted.message,
            wanted.extra,
        )
        left = session.execute(
            text("""
                SELECT (SELECT count(*) FROM purchase WHERE agency_id = :a AND price_cents > 0),
                       (SELECT count(*) FROM idempotency_key WHERE agency_id = :a)
            """),
            {"a": agency_id},
        ).one()
        assert tuple(left) == (0, 1 if state.key_reused else 0)
        return error.code
    assert answer is not None
    assert expected is None, f"sold, the rules refuse with {expected.code}"
    assert (answer.receipt.mode, answer.receipt.price_cents) == (request.mode, request.price_cents)
    stored = session.execute(
        text("SELECT response::text FROM idempotency_key WHERE agency_id = :a AND key = 'order-1'"),
        {"a": agency_id},
    ).scalar_one()
    assert stored == answer.body
    return None


# One state per refusal, each breaking only its own rule; and one sale in each mode.
ONE_EACH = {
    "invalid_api_key": State(revoked=True),
    "forbidden_role": State(role_now="viewer"),
    "idempotency_key_reused": State(key_reused=True),
    "lead_not_found": State(consent_withdrawn=True),
    "account_suspended": State(suspended=True),
    "already_purchased": State(already=True),
    "agency_paused": State(paused=True),
    "lead_unavailable": State(phase="sold_out"),
    "mode_unavailable": State(mode="shared"),
    "price_changed": State(price_off=-1),
    "budget_exceeded": State(budget_left=-1, spent=700),
    None: State(budget_left=0, spent=700),
    "shared": State(phase="offered_shared", mode="shared"),
}


@pytest.mark.parametrize("outcome", list(ONE_EACH), ids=str)
def test_each_refusal_of_the_database_is_the_rules_refusal(session, outcome) -> None:
    code = check(session, ONE_EACH[outcome])
    assert code == (None if outcome == "shared" else outcome)


@pytest.mark.parametrize("phase", ["expired", "withdrawn"])
def test_a_lead_no_longer_on_sale_says_why(session, phase: str) -> None:
    assert check(session, State(phase=phase)) == "lead_unavailable"


states = st.builds(
    State,
    revoked=st.booleans(),
    role_now=st.sampled_from(("buyer", "owner", "viewer")),
    key_reused=st.booleans(),
    consent_withdrawn=st.booleans(),
    phase=st.sampled_from(PHASES),
    suspended=st.booleans(),
    already=st.booleans(),
    paused=st.booleans(),
    budget_left=st.none() | st.integers(-2, 2),
    spent=st.sampled_from((0, 1, 50_000)),
    mode=st.sampled_from(("exclusive", "shared")),
    price_off=st.sampled_from((0, 0, -1, 1)),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(state=states)
def test_several_rules_broken_at_once_refuse_as_the_first_in_the_rules_order(
    session, owner_database_url, state: State
) -> None:
    # Each example starts from an empty market: agencies piling up on one spot would leave the
    # new one out of the agencies a homeowner is shown.
    session.rollback()
    reset_database(owner_database_url)
    check(session, replace(state))
