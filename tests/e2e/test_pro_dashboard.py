"""Espace Pro's dashboard: what is on offer, this month's spend against the budget, contacts by
stage and waiting for a first call, refund requests, and an unpaid invoice's banner."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from tests.e2e.test_pro_sign_in import browser
from tests.integration.test_facturx import billed
from tests.market import buyers, offered_lead
from tests.pro import person, sign_in


def test_the_dashboard_shows_the_agencys_day(clean_db, client, session) -> None:
    (agency,) = buyers(session, 1)
    session.execute(text("UPDATE agency SET monthly_budget_cents = 100000"))
    session.commit()
    bought, _ = offered_lead(session), offered_lead(session)
    price = client.get(f"/api/v1/leads/{bought}", headers=agency.headers).json()["price_cents"]
    client.post(
        f"/api/v1/leads/{bought}/purchase",
        json={"mode": "exclusive", "price_cents": price},
        headers=agency.headers,
    )
    with browser(clean_db) as web:
        sign_in(web, person(agency.agency_id))
        page = web.get("/pro/").text

    numbers = [int(n) for n in re.findall(r'<p class="big">(\d+)', page)]
    assert numbers[:2] == [1, 1]  # one lead still on offer, one contact waiting for a call
    assert "216,00\u00a0€" in page or f"{price // 100},00" in page
    assert "1\u202f000,00\u00a0€" in page  # the budget
    assert "Aucune demande de remboursement" in page


@pytest.mark.usefixtures("stripe_fake")
def test_an_unpaid_invoice_shows_a_banner_with_the_suspension_date(
    clean_db, client, session
) -> None:
    agency = billed(client, session, 1)
    invoice = session.execute(text("SELECT id, number FROM invoice")).one()
    # No card was saved: the run's payment failed and dunning began; its date, pinned.
    session.execute(
        text("UPDATE dunning SET failed_at = '2026-12-01 10:00+01' WHERE invoice_id = :i"),
        {"i": invoice.id},
    )
    session.commit()
    with browser(clean_db) as web:
        sign_in(web, person(agency.agency_id))
        page = web.get("/pro/").text

    assert f"La facture {invoice.number}" in page
    assert "16 déc. 2026" in page  # 15 days after the failed payment (dunning_suspend_days)
