"""Mandat's staff (finance) sign in like agency people, on the same server-side sessions
(issue 13 item 2; finding F11: the finance pages' cookie outlived sign-out)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.browser.test_finance_queue import pending_request
from tests.e2e.test_pro_sign_in import browser
from tests.helpers import add_agency
from tests.pro import form_token, person, sign_in, staff


@pytest.fixture
def web(clean_db: str) -> Iterator[Any]:
    with browser(clean_db) as client:
        yield client


def test_a_clerk_signs_in_at_the_one_sign_in_page_and_lands_on_the_refund_queue(web) -> None:
    signed = sign_in(web, staff(), next="/staff/refunds")
    assert signed.status_code == 303
    assert signed.headers["location"] == "/staff/refunds"

    queue = web.get("/staff/refunds")

    assert queue.status_code == 200
    assert "Aucune demande" in queue.text or "<table" in queue.text
    assert queue.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in queue.headers["content-security-policy"]
    assert web.get("/pro/leads", follow_redirects=False).headers["location"] == "/staff/refunds"


def test_F11_sign_out_ends_the_clerks_session_in_the_database(web, session) -> None:
    sign_in(web, staff())
    cookies = dict(web.cookies)
    csrf = form_token(web.get("/staff/refunds").text)

    out = web.post("/staff/logout", data={"csrf": csrf}, follow_redirects=False)

    assert out.headers["location"] == "/pro/login"
    revoked = session.execute(text("SELECT revoked_at IS NOT NULL FROM web_session")).scalar_one()
    assert revoked
    with browser("") as thief:
        for name, value in cookies.items():
            thief.cookies.set(name, value)
        stolen = thief.get("/staff/refunds", follow_redirects=False)
        assert stolen.headers["location"].startswith("/pro/login")


def test_an_agency_person_never_opens_a_staff_page(web, session) -> None:
    agency_id = add_agency(session, -1.68, 48.11, name="Agence du Centre")
    session.commit()
    sign_in(web, person(agency_id, role="owner"))

    answer = web.get("/staff/refunds", follow_redirects=False)

    assert answer.status_code == 404
    assert "<table" not in answer.text


def test_a_decision_without_its_csrf_token_changes_nothing(web, client, session) -> None:
    request_id, _ = pending_request(client, session)
    sign_in(web, staff())

    for forged in ({}, {"csrf": "forged"}):
        answer = web.post(
            f"/staff/refunds/{request_id}/decision",
            data={**forged, "decision": "approve", "note": "x"},
        )
        assert answer.status_code == 403
    status = session.execute(text("SELECT status FROM refund_request")).scalar_one()
    assert status == "pending"
    unknown = "/staff/refunds/00000000-0000-0000-0000-000000000001"
    assert web.get(unknown).status_code == 404  # a request that does not exist: a page, no 500


def test_the_finance_pages_old_addresses_lead_to_the_staff_pages(web) -> None:
    for old in ("/finance", "/finance/login", "/finance/refunds"):
        assert web.get(old, follow_redirects=False).headers["location"] == "/staff/refunds"
