"""The homeowner's private page in a real browser, in French on a desk and in English on a
phone: everything is done by clicking — download the data, withdraw one agency (its catalogue
loses the lead; the agency that bought it reads "ne plus contacter"), erase everything; and the
legal pages."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from engine.intake.reference import reference_of
from tests.browser.conftest import serious_accessibility_violations
from tests.browser.test_pro_inbox import (
    DESKTOP,
    PHONE,
    no_sideways_scroll,
    sign_in_with_the_keyboard,
)
from tests.market import buyers, end_exclusive_window, offered_lead
from tests.pro import person


@pytest.fixture
def site(live_server: str) -> str:
    """The server as `localhost`: a secure context, where Chromium keeps the page's Secure
    cookie over plain HTTP, as it would over HTTPS."""
    return live_server.replace("127.0.0.1", "localhost")


WORDS = {
    "fr": {
        "download": "Télécharger mes données",
        "withdraw": "Retirer mon accord",
        "yes_withdraw": "Oui, retirer mon accord",
        "erase": "Tout effacer",
        "yes_erase": "Oui, tout effacer",
        "erased": "Vos données sont effacées",
        "retention": "90 jours",
    },
    "en": {
        "download": "Download my data",
        "withdraw": "Withdraw my consent",
        "yes_withdraw": "Yes, withdraw my consent",
        "erase": "Erase everything",
        "yes_erase": "Yes, erase everything",
        "erased": "Your data are erased",
        "retention": "90 days",
    },
}


def mailed_link(session: Any) -> str:
    """The private link of the confirmation e-mail, as the homeowner receives it."""
    body = session.execute(
        text("SELECT payload->>'text' FROM outbox WHERE event = 'homeowner.mail'")
    ).scalar_one()
    found = re.search(r"https?://\S+(/me\?token=[A-Za-z0-9_-]+)", body)
    assert found, body
    return found.group(1)


def checked(page: Any, shots: Any, name: str) -> None:
    assert no_sideways_scroll(page)
    assert serious_accessibility_violations(page) == []
    shots(page, name)


@pytest.mark.parametrize(("lang", "viewport"), [("fr", DESKTOP), ("en", PHONE)])
def test_a_homeowner_downloads_withdraws_and_erases_by_clicking(
    browser, site, live_server, session, shots, lang, viewport
) -> None:
    (bought,) = buyers(session, 1, name="Agence Alpha")
    (waiting,) = buyers(session, 1, name="Agence Beta")
    lead = offered_lead(session, consent_to=[bought, waiting])
    end_exclusive_window(session, lead)  # shared: Alpha buys, Beta still may
    price = httpx.get(f"{live_server}/api/v1/leads/{lead}", headers=bought.headers).json()
    purchase = httpx.post(
        f"{live_server}/api/v1/leads/{lead}/purchase",
        json={"mode": "shared", "price_cents": price["price_cents"]},
        headers={**bought.headers, "Idempotency-Key": f"alpha-{lead}"},
    ).json()
    link = mailed_link(session)
    words = WORDS[lang]
    context = browser.new_context(
        viewport=viewport, locale="fr-FR" if lang == "fr" else "en-GB", accept_downloads=True
    )
    page = context.new_page()

    page.goto(f"{site}{link}")
    assert page.evaluate("() => document.documentElement.lang") == lang
    assert page.text_content("#reference") == reference_of(lead)
    assert "Agence Alpha" in (page.text_content("#bought-title + ul") or "")
    checked(page, shots, f"{lang}-1-my-page")

    with page.expect_download() as download:
        page.click(f"text={words['download']}")
    data = json.loads(Path(download.value.path()).read_text())
    assert data["reference"] == reference_of(lead)
    assert [b["agency"] for b in data["bought_by"]] == ["Agence Alpha"]

    # Beta has not bought: withdrawn, the lead leaves its catalogue.
    assert httpx.get(f"{live_server}/api/v1/leads/{lead}", headers=waiting.headers).is_success
    page.click("[aria-label$='Agence Beta']")
    page.wait_for_selector("#ask-title")
    checked(page, shots, f"{lang}-2-withdraw-asked")
    page.click(f"text={words['yes_withdraw']}")
    page.wait_for_selector("#result")
    assert "Agence Beta" in (page.text_content("#result") or "")
    checked(page, shots, f"{lang}-3-withdrawn")
    catalogue = httpx.get(f"{live_server}/api/v1/leads", headers=waiting.headers).json()
    assert str(lead) not in [item["id"] for item in catalogue["items"]]

    # Alpha bought it: withdrawn, its contact page says not to contact any more.
    page.click("[aria-label$='Agence Alpha']")
    page.click(f"text={words['yes_withdraw']}")
    page.wait_for_selector("#result")
    agency = browser.new_context(viewport=DESKTOP).new_page()
    agency.goto(f"{site}/pro/login?lang=fr")
    sign_in_with_the_keyboard(agency, site, person(bought.agency_id))
    agency.goto(f"{site}/pro/contacts/{purchase['purchase_id']}")
    assert "Ne plus contacter" in (agency.text_content("#main") or "")
    agency.context.close()

    page.click("#erase")
    page.wait_for_selector("#ask-title")
    checked(page, shots, f"{lang}-4-erase-asked")
    page.click(f"text={words['yes_erase']}")
    page.wait_for_selector(f"h1:has-text('{words['erased']}')")
    checked(page, shots, f"{lang}-5-erased")
    assert session.execute(
        text("SELECT erased_at IS NOT NULL FROM lead WHERE id = :id"), {"id": lead}
    ).scalar_one()

    page.click(
        f"footer >> text={'Politique de confidentialité' if lang == 'fr' else 'Privacy policy'}"
    )
    page.wait_for_selector("#retention")
    assert words["retention"] in (page.text_content("#retention-unsold") or "")
    checked(page, shots, f"{lang}-6-privacy")
    page.click("footer >> text=" + ("Mentions légales" if lang == "fr" else "Legal notice"))
    page.wait_for_selector("#company")
    checked(page, shots, f"{lang}-7-legal")
    page.click(
        "footer >> text=" + ("Comment fonctionne Mandat" if lang == "fr" else "How Mandat works")
    )
    page.wait_for_selector("#value-bands")
    checked(page, shots, f"{lang}-8-transparency")
    context.close()
