"""The purchase as one database call (migration 0028, docs/adr/0004): one round trip, the same
bytes on replay, a monthly spend that is always the sum of the month's purchase lines, and a
withdrawal or an erasure that a purchase in flight cannot slip past."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from benchmarks.harness import INVARIANTS, round_trips
from engine.accounts.authentication import authenticate
from engine.accounts.keys import Principal
from engine.billing.ledger import add_refund_line
from engine.config import owner_database_url
from engine.db import unit_of_work
from engine.errors import Conflict, MandatError, NotFound
from engine.privacy.rights import erase, withdraw_consent
from engine.sales.buy import PurchaseRequest, purchase_lead
from engine.sales.flows import buy_lead
from tests.market import buyers, offered_lead

COUNTER = "agency months whose spend counter is not the sum of their purchase lines"


def price_of(session: Session, lead: uuid.UUID) -> int:
    price: int = session.execute(
        text("SELECT exclusive_price_cents FROM offer WHERE lead_id = :l"), {"l": lead}
    ).scalar_one()
    return price


def invariants(session: Session) -> dict[str, int]:
    return {name: session.execute(text(sql)).scalar_one() for name, sql in INVARIANTS.items()}


def test_a_purchase_is_one_round_trip_to_the_database(session) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    buyer = authenticate(session, a.key)
    with round_trips() as counted:
        buy_lead(buyer, PurchaseRequest(lead, "exclusive", price_of(session, lead), "k"))
    assert counted == [1], counted.messages


def test_the_answer_and_its_replays_are_the_same_bytes(session) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    buyer = authenticate(session, a.key)
    request = PurchaseRequest(lead, "exclusive", price_of(session, lead), "order-7")

    first = buy_lead(buyer, request)
    again = buy_lead(buyer, request)

    assert (first.replayed, again.replayed) == (False, True)
    assert again.body == first.body
    assert first.receipt.contact.first_name == "Jeanne"
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 1


def test_the_monthly_spend_is_the_sum_of_the_months_purchase_lines(session) -> None:
    a, b = buyers(session, 2)
    leads = [offered_lead(session) for _ in range(3)]
    bought = []
    for buyer, lead in [(a, leads[0]), (a, leads[1]), (b, leads[2])]:
        caller = authenticate(session, buyer.key)
        bought.append(buy_lead(caller, PurchaseRequest(lead, "exclusive", price_of(session, lead))))
    add_refund_line(session, bought[0].receipt.purchase_id, 100)  # a refund is not spend
    # A purchase line of last month (as the demo data moves them): counted in its own month.
    session.commit()
    back_40_days("purchase_id = :p AND kind = 'purchase'", {"p": bought[1].receipt.purchase_id})

    months = session.execute(
        text("SELECT agency_id, month, cents FROM agency_month_spend ORDER BY agency_id, month")
    ).all()
    assert invariants(session) == dict.fromkeys(INVARIANTS, 0)
    assert sorted(r.cents for r in months if r.agency_id == a.agency_id) == sorted(
        [bought[0].receipt.price_cents, bought[1].receipt.price_cents]
    )
    assert len(months) == 3

    session.execute(text("UPDATE agency_month_spend SET cents = cents + 1 WHERE month = "
                         "(SELECT max(month) FROM agency_month_spend)"))  # fmt: skip
    assert session.execute(text(INVARIANTS[COUNTER])).scalar_one() >= 1
    session.rollback()


def test_the_budget_counts_this_months_lines_only(session) -> None:
    (a,) = buyers(session, 1)
    first, second = offered_lead(session), offered_lead(session)
    caller = authenticate(session, a.key)
    paid = price_of(session, first)
    buy_lead(caller, PurchaseRequest(first, "exclusive", paid))
    session.execute(
        text("UPDATE agency SET monthly_budget_cents = :b WHERE id = :a"),
        {"b": price_of(session, second), "a": a.agency_id},
    )
    session.commit()
    with pytest.raises(MandatError) as over:
        buy_lead(caller, PurchaseRequest(second, "exclusive", price_of(session, second)))
    assert over.value.code == "budget_exceeded"
    assert over.value.extra == {"budget_cents": price_of(session, second), "spent_cents": paid}

    session.commit()
    back_40_days("true", {})

    assert buy_lead(caller, PurchaseRequest(second, "exclusive", price_of(session, second)))


def back_40_days(where: str, params: dict[str, object]) -> None:
    """Moves ledger lines 40 days back, as the demo data does: as the schema's owner, the guard
    of the append-only ledger lifted for this transaction (`mandat_app` may do neither)."""
    with unit_of_work(owner_database_url()) as owner:
        owner.execute(text("ALTER TABLE ledger_line DISABLE TRIGGER ledger_line_append_only"))
        owner.execute(
            text(
                f"UPDATE ledger_line SET created_at = created_at - interval '40 days' WHERE {where}"
            ),
            params,
        )
        owner.execute(text("ALTER TABLE ledger_line ENABLE TRIGGER ledger_line_append_only"))


def _buy_in_background(
    caller: Principal, request: PurchaseRequest
) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(buy_lead(caller, request))
        except MandatError as refused:
            outcome.append(refused)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("change", ["withdrawal", "erasure"])
def test_a_purchase_waits_for_a_withdrawal_or_an_erasure_in_flight_and_sees_it(
    session, change: str
) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    caller = authenticate(session, a.key)
    request = PurchaseRequest(lead, "exclusive", price_of(session, lead), "order-1")

    with unit_of_work() as homeowner:
        if change == "withdrawal":
            withdraw_consent(homeowner, lead, a.agency_id)
        else:
            erase(homeowner, lead)
        thread, outcome = _buy_in_background(caller, request)
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the purchase went ahead while the homeowner's change ran"
    thread.join(timeout=10)

    (refused,) = outcome
    kind, code = (
        (NotFound, "lead_not_found") if change == "withdrawal" else (Conflict, "lead_unavailable")
    )
    assert isinstance(refused, kind)
    assert refused.code == code
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 0


@pytest.mark.parametrize(
    ("change", "event"), [("withdrawal", "consent.withdrawn"), ("erasure", "lead.erased")]
)
def test_a_change_after_a_purchase_in_flight_waits_for_it_then_tells_its_buyer(
    session, change: str, event: str
) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    caller = authenticate(session, a.key)
    request = PurchaseRequest(lead, "exclusive", price_of(session, lead), "order-1")

    with unit_of_work() as buying:
        purchase_lead(buying, caller, request)  # holds the offer until this block commits
        done: list[Any] = []

        def homeowner() -> None:
            with unit_of_work() as s:
                if change == "withdrawal":
                    done.append(withdraw_consent(s, lead, a.agency_id))
                else:
                    done.append(erase(s, lead))

        thread = threading.Thread(target=homeowner)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the change did not wait for the purchase holding the offer"
    thread.join(timeout=10)

    told = session.execute(
        text("SELECT count(*) FROM outbox WHERE event = :e AND agency_id = :a"),
        {"e": event, "a": a.agency_id},
    ).scalar_one()
    stored = session.execute(text("SELECT response FROM idempotency_key")).scalar_one()
    assert done
    assert told >= 1
    # The contact of an erased homeowner, or of one who withdrew this agency's consent, is not
    # kept in the purchase's stored answer either (a replay would hand it back).
    assert stored is None
