"""Mandat's staff (finance) sign in like agency people, on the same server-side sessions
(issue 13 item 2; finding F11: the finance pages' cookie outlived sign-out)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from api.pro.i18n import money
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


def test_the_refund_pages_speak_french_first_and_english_by_choice(web, client, session) -> None:
    """French by default, English chosen with `?lang=en` and remembered: words, dates and
    amounts in the reader's format, as on Espace Pro's pages."""
    request_id, price = pending_request(client, session)
    sign_in(web, staff())

    french = web.get(f"/staff/refunds/{request_id}")
    assert '<html lang="fr">' in french.text
    assert "Achat et contact" in french.text
    assert money(price, "fr") in french.text  # `216,00 €`

    english = web.get("/staff/refunds?lang=en")
    assert '<html lang="en">' in english.text
    assert "<h1>Refund requests</h1>" in english.text
    assert "Sign out" in english.text
    assert "Se déconnecter" not in english.text
    remembered = web.get(f"/staff/refunds/{request_id}")  # no `lang`: the cookie says English
    assert "Purchase and contact" in remembered.text
    assert money(price, "en") in remembered.text  # `€216.00`

    refused = web.post(
        f"/staff/refunds/{request_id}/decision",
        data={"csrf": form_token(remembered.text), "decision": "approve", "note": "x",
              "amount": f"{price}"},
    )  # fmt: skip
    assert refused.status_code == 422
    assert "Never more than what is left to refund." in refused.text


def test_the_application_pages_speak_the_admins_own_language(web, session) -> None:
    """Without a choice in the URL or a cookie, the language set on the person comes first."""
    admin = staff(role="admin")
    sign_in(web, admin)
    assert "Aucune demande dans cet état." in web.get("/staff/applications").text

    session.execute(text("UPDATE agency_user SET lang = 'en' WHERE email = :e"), {"e": admin})
    session.commit()
    english = web.get("/staff/applications")

    assert "<h1>Agency applications</h1>" in english.text
    assert "No application in this state." in english.text
