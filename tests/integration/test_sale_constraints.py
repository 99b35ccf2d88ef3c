"""The selling guarantees are database constraints: even code that skips every check cannot
make a second exclusive buyer, more shared buyers than the cap, or one agency buy twice."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from engine.config import owner_database_url
from engine.db import unit_of_work
from tests.market import buyers, offered_lead

INSERT = text("""
    INSERT INTO purchase (lead_id, agency_id, mode, price_cents, created_at, allocation)
    VALUES (:lead, :agency, :mode, 100, now(), '{}')
""")


def test_a_second_exclusive_buyer_is_refused(session) -> None:
    a, b = buyers(session, 2)
    lead = offered_lead(session)
    session.execute(INSERT, {"lead": lead, "agency": a.agency_id, "mode": "exclusive"})

    with pytest.raises(IntegrityError, match="uq_purchase_one_exclusive"):
        session.execute(INSERT, {"lead": lead, "agency": b.agency_id, "mode": "exclusive"})
    session.rollback()


def test_one_agency_cannot_buy_a_lead_twice(session) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    session.execute(INSERT, {"lead": lead, "agency": a.agency_id, "mode": "shared"})

    with pytest.raises(IntegrityError, match="uq_purchase_once_per_agency"):
        session.execute(INSERT, {"lead": lead, "agency": a.agency_id, "mode": "shared"})
    session.rollback()


def test_the_offer_never_counts_more_shared_buyers_than_its_cap(session) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)

    with pytest.raises(IntegrityError, match="ck_offer_shared_cap"):
        session.execute(
            text("UPDATE offer SET shared_buyers = shared_cap + 1 WHERE lead_id = :l"), {"l": lead}
        )
    session.rollback()
    with pytest.raises(IntegrityError, match="ck_offer_one_mode"):
        session.execute(
            text("UPDATE offer SET shared_buyers = 1, exclusive_buyer = :a WHERE lead_id = :l"),
            {"l": lead, "a": a.agency_id},
        )
    session.rollback()


@pytest.mark.parametrize(
    "statement", ["UPDATE ledger_line SET amount_cents = 0", "DELETE FROM ledger_line"]
)
def test_the_ledger_is_append_only(session, statement) -> None:
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    purchase = session.execute(
        text("""
            INSERT INTO purchase (lead_id, agency_id, mode, price_cents, created_at, allocation)
            VALUES (:l, :a, 'exclusive', 100, now(), '{}') RETURNING id
        """),
        {"l": lead, "a": a.agency_id},
    ).scalar_one()
    session.execute(
        text("""
            INSERT INTO ledger_line (agency_id, purchase_id, kind, amount_cents, created_at)
            VALUES (:a, :p, 'purchase', 100, now())
        """),
        {"a": a.agency_id, "p": purchase},
    )
    session.commit()

    # Even the schema's owner (`mandat_app` may not try: test_database_roles.py).
    with pytest.raises(Exception, match="append-only"), unit_of_work(owner_database_url()) as owner:
        owner.execute(text(statement))


def bought_at(session, price: int) -> tuple[object, object]:  # type: ignore[no-untyped-def]
    """(agency id, purchase id) of a purchase at `price` cents, its ledger line not written."""
    (a,) = buyers(session, 1)
    lead = offered_lead(session)
    purchase = session.execute(
        text("""
            INSERT INTO purchase (lead_id, agency_id, mode, price_cents, created_at, allocation)
            VALUES (:l, :a, 'exclusive', :price, now(), '{}') RETURNING id
        """),
        {"l": lead, "a": a.agency_id, "price": price},
    ).scalar_one()
    return a.agency_id, purchase


def constraint(error: IntegrityError) -> str | None:
    """The constraint the database named in its refusal."""
    return error.orig.diag.constraint_name  # type: ignore[union-attr]


LINE = text("""
    INSERT INTO ledger_line (agency_id, purchase_id, kind, amount_cents, created_at)
    VALUES (:a, :p, :kind, :amount, now())
""")


def test_a_purchase_line_is_the_purchase_price_for_its_own_agency(session) -> None:
    agency, purchase = bought_at(session, 100)
    with pytest.raises(IntegrityError) as refused:
        session.execute(LINE, {"a": agency, "p": purchase, "kind": "purchase", "amount": 90})
    assert constraint(refused.value) == "ledger_line_purchase_price"
    session.rollback()

    agency, purchase = bought_at(session, 100)
    (other,) = buyers(session, 1)
    with pytest.raises(IntegrityError) as refused:
        session.execute(
            LINE, {"a": other.agency_id, "p": purchase, "kind": "purchase", "amount": 100}
        )
    assert constraint(refused.value) == "ledger_line_agency"
    session.rollback()


def test_refunds_written_at_once_never_add_up_to_more_than_the_price(session) -> None:
    """Two refunds of 60 on a purchase of 100, each within the price alone, from two
    transactions at once: the second waits for the first, then is refused."""
    from engine.db import get_engine

    agency, purchase = bought_at(session, 100)
    session.execute(LINE, {"a": agency, "p": purchase, "kind": "purchase", "amount": 100})
    session.commit()
    refund = {"a": agency, "p": purchase, "kind": "refund", "amount": -60}
    outcomes: list[str] = []

    def second() -> None:
        with get_engine().connect() as conn:
            try:
                conn.execute(LINE, refund)
                conn.commit()
                outcomes.append("written")
            except IntegrityError as error:
                outcomes.append(constraint(error))

    with get_engine().connect() as first:
        first.execute(LINE, refund)  # holds the purchase's lock until it commits
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive(), "the second refund did not wait for the first"
        first.commit()
    thread.join(30)

    assert outcomes == ["ledger_line_refunds_within_price"]
    refunded = session.execute(
        text("SELECT -sum(amount_cents) FROM ledger_line WHERE kind = 'refund'")
    ).scalar_one()
    assert refunded == 60
