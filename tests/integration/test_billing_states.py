"""Billing as a state machine (hypothesis): purchases, refunds, runs, declined and saved cards
and Stripe outages in any order keep the books right, on real PostGIS and localstripe."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import text

from engine.accounts.authentication import authenticate
from engine.billing import stripe_gateway as gateway
from engine.billing.collecting import collect_invoice
from engine.billing.documents import PARIS
from engine.billing.ledger import add_refund_line
from engine.billing.refunding import refund_credit_note
from engine.billing.run import run_billing
from engine.db import unit_of_work
from engine.refunds.deciding import decide
from engine.refunds.requesting import request_refund
from engine.sales.buy import PurchaseRequest, purchase_lead
from tests.conftest import issue_key, reset_database
from tests.market import buyers, offered_lead

CARDS = ("pm_card_visa", "pm_card_chargeCustomerFail")


class Books(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        reset_database(os.environ["MANDAT_OWNER_DATABASE_URL"])
        httpx.delete(f"{os.environ['STRIPE_API_BASE']}/_config/data", timeout=10)
        now = datetime.now(PARIS)
        self.period = now.date().replace(day=1)  # the next month to bill
        self.purchases: list[tuple[uuid.UUID, int]] = []

    @initialize()
    def agencies(self) -> None:
        with unit_of_work() as session:
            self.agencies = buyers(session, 3, role="owner")
        self.finance = issue_key("finance")
        for agency in self.agencies:
            self.save_card(agency.agency_id, "pm_card_visa")

    def save_card(self, agency_id: uuid.UUID, card: str) -> None:
        customer = gateway.create_customer(str(agency_id), "Agence", "a@exemple.fr")
        method = gateway.attach_payment_method(customer, card)
        with unit_of_work() as session:
            session.execute(
                text("""
                    UPDATE agency SET stripe_customer_id = :c, stripe_payment_method_id = :m
                    WHERE id = :a
                """),
                {"c": customer, "m": method, "a": agency_id},
            )

    @rule(which=st.integers(0, 2))
    def buy(self, which: int) -> None:
        agency = self.agencies[which]
        with unit_of_work() as session:
            lead = offered_lead(session, consent_to=[agency])
            price = session.execute(
                text("SELECT exclusive_price_cents FROM offer WHERE lead_id = :l"), {"l": lead}
            ).scalar_one()
            buyer = authenticate(session, agency.key)
            answer = purchase_lead(session, buyer, PurchaseRequest(lead, "exclusive", price))
        self.purchases.append((answer.receipt.purchase_id, price))

    @precondition(lambda self: self.purchases)
    @rule(pick=st.integers(0, 1_000), share=st.sampled_from([0.25, 1.0]))
    def refund_request_approved_by_finance(self, pick: int, share: float) -> None:
        """Through the refund workflow: a credit note and a Stripe refund at once when the
        purchase's invoice is paid, else a line billed later."""
        purchase, price = self.purchases[pick % len(self.purchases)]
        agency = next(a for a in self.agencies if a.agency_id == self._agency_of(purchase))
        with unit_of_work() as session:
            if (
                session.execute(
                    text("SELECT 1 FROM refund_request WHERE purchase_id = :p"), {"p": purchase}
                ).first()
                or self._refundable(session, purchase) <= 0
            ):
                return
            asked = request_refund(
                session, authenticate(session, agency.key), purchase, "not_owner", "", []
            )
        if asked.status != "pending":
            return
        with unit_of_work() as session:
            amount = min(int(price * share), self._refundable(session, purchase))
            outcome = decide(
                session,
                authenticate(session, self.finance),
                asked.request_id,
                "approve",
                amount,
                "checked",
            )
        if outcome.credit_note_id:
            refund_credit_note(outcome.credit_note_id)

    def _agency_of(self, purchase: uuid.UUID) -> uuid.UUID:
        with unit_of_work() as session:
            agency: uuid.UUID = session.execute(
                text("SELECT agency_id FROM purchase WHERE id = :p"), {"p": purchase}
            ).scalar_one()
        return agency

    @staticmethod
    def _refundable(session: Any, purchase: uuid.UUID) -> int:
        return int(
            session.execute(
                text("""
                    SELECT p.price_cents + coalesce((SELECT sum(amount_cents) FROM ledger_line l
                        WHERE l.purchase_id = p.id AND l.kind = 'refund'), 0)
                    FROM purchase p WHERE p.id = :p
                """),
                {"p": purchase},
            ).scalar_one()
        )

    @precondition(lambda self: self.purchases)
    @rule(pick=st.integers(0, 1_000), share=st.sampled_from([0.25, 0.5, 1.0]))
    def refund(self, pick: int, share: float) -> None:
        purchase, price = self.purchases[pick % len(self.purchases)]
        with unit_of_work() as session:
            refunded = -session.execute(
                text("""
                    SELECT coalesce(sum(amount_cents), 0) FROM ledger_line
                    WHERE purchase_id = :p AND kind = 'refund'
                """),
                {"p": purchase},
            ).scalar_one()
            amount = min(int(price * share), price - refunded)
            if amount > 0:
                add_refund_line(session, purchase, amount)

    @rule(which=st.integers(0, 2), card=st.sampled_from(CARDS))
    def change_card(self, which: int, card: str) -> None:
        agency = self.agencies[which]
        self.save_card(agency.agency_id, card)
        with unit_of_work() as session:
            unpaid = list(
                session.execute(
                    text(
                        "SELECT id FROM invoice WHERE agency_id = :a AND status = 'payment_failed'"
                    ),
                    {"a": agency.agency_id},
                ).scalars()
            )
        for invoice in unpaid:
            collect_invoice(invoice, new_attempt=True)

    @rule(stripe_down=st.booleans())
    def run(self, stripe_down: bool) -> None:
        following = (self.period + timedelta(days=32)).replace(day=1)
        after = datetime(following.year, following.month, 1, 1, tzinfo=PARIS)
        base = os.environ["STRIPE_API_BASE"]
        if stripe_down:
            os.environ["STRIPE_API_BASE"] = "http://127.0.0.1:9"
        try:
            run_billing(self.period, after)
        finally:
            os.environ["STRIPE_API_BASE"] = base
        if stripe_down:
            run_billing(self.period, after)  # the run resumed once Stripe is back
        self.period = following
        with unit_of_work() as session:
            unbilled = session.execute(
                text("""
                    SELECT count(*) FROM ledger_line l
                    WHERE NOT EXISTS (SELECT 1 FROM document_line d WHERE d.ledger_line_id = l.id)
                """)
            ).scalar_one()
        assert unbilled == 0  # a run bills every line of the months that ended

    @invariant()
    def documents_equal_the_billed_ledger(self) -> None:
        with unit_of_work() as session:
            rows = session.execute(
                text("""
                    SELECT a.id,
                           coalesce((SELECT sum(total_ht_cents) FROM invoice i
                                     WHERE i.agency_id = a.id), 0)
                         - coalesce((SELECT sum(total_ht_cents) FROM credit_note c
                                     WHERE c.agency_id = a.id), 0) AS documents,
                           coalesce((SELECT sum(l.amount_cents) FROM ledger_line l
                                     JOIN document_line d ON d.ledger_line_id = l.id
                                     WHERE l.agency_id = a.id), 0) AS billed
                    FROM agency a
                """)
            ).all()
        for row in rows:
            assert row.documents == row.billed, row

    @invariant()
    def numbers_are_gap_free(self) -> None:
        with unit_of_work() as session:
            for table in ("invoice", "credit_note"):
                numbers = (
                    session.execute(text(f"SELECT number FROM {table} ORDER BY number"))
                    .scalars()
                    .all()
                )
                by_year: dict[str, list[int]] = {}
                for number in numbers:
                    _, year, serial = number.split("-")
                    by_year.setdefault(year, []).append(int(serial))
                for serials in by_year.values():
                    assert serials == list(range(1, len(serials) + 1)), (table, serials)

    @invariant()
    def each_purchase_billed_once_and_each_invoice_charged_once(self) -> None:
        with unit_of_work() as session:
            twice = session.execute(
                text("""
                    SELECT count(*) FROM (SELECT l.purchase_id FROM document_line d
                        JOIN ledger_line l ON l.id = d.ledger_line_id AND l.kind = 'purchase'
                        GROUP BY l.purchase_id HAVING count(*) > 1) x
                """)
            ).scalar_one()
            charged: list[Any] = session.execute(
                text("""
                    SELECT i.total_ttc_cents, i.status,
                           coalesce((SELECT sum(c.total_ttc_cents) FROM credit_note c
                                     WHERE c.invoice_id = i.id AND c.refund_status = 'deducted'),
                                    0) AS deducted,
                           (SELECT count(*) FROM payment_attempt p
                            WHERE p.invoice_id = i.id AND p.status = 'succeeded') AS successes,
                           (SELECT sum(amount_cents) FROM payment_attempt p
                            WHERE p.invoice_id = i.id AND p.status = 'succeeded') AS collected
                    FROM invoice i
                """)
            ).all()
        assert twice == 0
        for row in charged:
            assert row.successes <= 1
            if row.successes:
                assert row.status == "paid"
                assert row.collected <= row.total_ttc_cents
                # What the charge was net of is settled by it, never paid back a second time.
                assert row.collected == row.total_ttc_cents - row.deducted


@pytest.mark.usefixtures("stripe_fake", "clean_db")
def test_the_books_stay_right_whatever_happens() -> None:
    Books.TestCase.settings = settings(
        max_examples=12,
        stateful_step_count=16,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    Books.TestCase().runTest()
