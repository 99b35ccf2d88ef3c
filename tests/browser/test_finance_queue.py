"""A finance clerk works the refund queue in a real browser, with the keyboard alone. Clerks are
people of Mandat's staff: they sign in at /pro/login on the same sessions as agency people."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.browser.conftest import serious_accessibility_violations
from tests.market import buyers, offered_lead
from tests.pro import PASSWORD, person, staff


def pending_request(client, session) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    (agency,) = buyers(session, 1)
    lead = offered_lead(session, consent_to=[agency])
    price = session.execute(
        text("SELECT exclusive_price_cents FROM offer WHERE lead_id = :l"), {"l": lead}
    ).scalar_one()
    purchase = client.post(
        f"/api/v1/leads/{lead}/purchase",
        json={"mode": "exclusive", "price_cents": price},
        headers=agency.headers,
    ).json()["purchase_id"]
    request = client.post(
        f"/api/v1/purchases/{purchase}/refund-requests",
        json={"reason": "unreachable", "call_attempts": []},
        headers=agency.headers,
    )
    if request.status_code == 422:  # unreachable needs its call attempts
        request = client.post(
            f"/api/v1/purchases/{purchase}/refund-requests",
            json={"reason": "not_owner", "comment": "Locataire, pas propriétaire."},
            headers=agency.headers,
        )
    assert request.status_code == 201, request.text
    return request.json()["id"], price


def sign_in(page: Any, site: str, email: str) -> None:
    """The queue's address, the sign-in page it leads to, then back to the queue."""
    page.goto(f"{site}/staff/refunds")
    page.wait_for_selector("#email")
    page.focus("#email")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site}/staff/refunds")


def test_a_clerk_approves_part_of_a_refund_with_the_keyboard(
    browser, pro_site, client, session, shots
) -> None:
    request_id, price = pending_request(client, session)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()

    sign_in(page, pro_site, staff())
    assert page.locator("tbody tr").count() == 1
    assert "Pas le propriétaire" in (page.text_content("tbody") or "")
    assert serious_accessibility_violations(page) == []
    shots(page, "1-queue")

    page.focus(f"a[href='/staff/refunds/{request_id}']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/staff/refunds/{request_id}")
    assert "Locataire" in (page.text_content("main") or "")
    assert serious_accessibility_violations(page) == []
    page.focus("#decision-approve")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # to the amount (radio groups take one tab stop)
    page.keyboard.type(f"{price / 200:.2f}".replace(".", ","))
    page.keyboard.press("Tab")
    page.keyboard.type("Appels vérifiés : remboursement de moitié.")
    shots(page, "2-decision")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    page.wait_for_url("**/staff/refunds?decided=*")
    assert page.is_visible("#decided")
    shots(page, "3-decided")
    row = session.execute(
        text("SELECT status, approved_amount_cents, decision_rule FROM refund_request")
    ).one()
    assert tuple(row) == ("approved", price // 2, "manual")
    refund = session.execute(
        text("SELECT amount_cents FROM ledger_line WHERE kind = 'refund'")
    ).scalar_one()
    assert refund == -(price // 2)
    context.close()


def test_a_refund_above_the_price_is_refused_on_the_page(
    browser, pro_site, client, session, shots
) -> None:
    request_id, price = pending_request(client, session)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    sign_in(page, pro_site, staff())

    page.goto(f"{pro_site}/staff/refunds/{request_id}")
    page.check("#decision-approve")
    page.fill("#amount", f"{price / 100 + 1:.2f}")
    page.fill("#note", "Trop.")
    page.click("#decide")

    page.wait_for_selector("#errors")
    assert page.get_attribute("#errors", "role") == "alert"
    assert "Jamais plus que ce qui reste à rembourser" in (page.text_content("#errors") or "")
    shots(page, "refused")
    assert session.execute(text("SELECT status FROM refund_request")).scalar_one() == "pending"

    page.goto(f"{pro_site}/staff/refunds/{request_id}?lang=en")  # English, chosen
    assert page.get_attribute("html", "lang") == "en"
    assert (page.text_content("h1") or "").startswith("Refund request — ")
    assert page.is_visible("text=Save the decision")
    assert serious_accessibility_violations(page) == []
    shots(page, "english")
    context.close()


def test_only_finance_staff_open_the_pages(browser, pro_site, session) -> None:
    """An agency's owner signs in to Espace Pro, never to the staff pages."""
    (agency,) = buyers(session, 1, role="owner")
    page = browser.new_page()

    page.goto(f"{pro_site}/pro/login")
    page.fill("#email", person(agency.agency_id, role="owner"))
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/pro/")

    answer = page.goto(f"{pro_site}/staff/refunds")
    assert answer is not None
    assert answer.status == 404
    assert page.locator("table").count() == 0
    page.close()


def test_a_clerk_who_signs_out_has_a_dead_cookie_everywhere(browser, pro_site, session) -> None:
    """Sign-out ends the session in the database: the cookie copied before it opens nothing."""
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, pro_site, staff())
    copied = context.cookies()

    page.click("text=Se déconnecter")
    page.wait_for_url("**/pro/login")

    thief = browser.new_context()
    thief.add_cookies(copied)
    stolen = thief.new_page()
    stolen.goto(f"{pro_site}/staff/refunds")
    assert "/pro/login" in stolen.url
    thief.close()
    context.close()
