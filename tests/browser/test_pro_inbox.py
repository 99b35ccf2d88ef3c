"""Espace Pro in a real browser: a buyer signs in with the keyboard and reads the lead inbox, on
a desk and on a phone, in French and English."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import text

from tests.browser.conftest import serious_accessibility_violations
from tests.market import buyers, offered_lead
from tests.pro import PASSWORD, person

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}


def no_sideways_scroll(page: Any) -> bool:
    return bool(
        page.evaluate(
            "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def sign_in_with_the_keyboard(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/pro/leads")  # not signed in: the sign-in page, then back here
    page.wait_for_selector("#email")
    page.focus("#email")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    # The whole address: the sign-in page's (/pro/login?next=/pro/leads) ends as `**/pro/leads`.
    page.wait_for_url(f"{base}/pro/leads")
    page.wait_for_selector("header nav")


@pytest.mark.parametrize(("lang", "viewport"), [("fr", DESKTOP), ("en", PHONE)])
def test_a_buyer_signs_in_and_reads_the_inbox(
    browser, pro_site, session, shots, lang, viewport
) -> None:
    (agency,) = buyers(session, 1, name="Agence du Centre")
    offered_lead(session)
    email = person(agency.agency_id)
    context = browser.new_context(viewport=viewport, locale="fr-FR" if lang == "fr" else "en-GB")
    page = context.new_page()

    page.goto(f"{pro_site}/pro/login?lang={lang}")  # the choice is remembered
    assert page.evaluate("() => document.documentElement.lang") == lang
    assert serious_accessibility_violations(page) == []
    shots(page, f"{lang}-1-sign-in")
    sign_in_with_the_keyboard(page, pro_site, email)

    assert page.evaluate("() => document.documentElement.lang") == lang
    assert page.locator(".offer").count() == 1
    offer = page.text_content(".offer") or ""
    assert "Rennes (35000)" in offer
    assert ("HT" if lang == "fr" else "excl. VAT") in offer
    assert page.get_attribute("nav a[aria-current=page]", "href") == "/pro/leads"
    assert "Agence du Centre" in (page.text_content("header") or "")
    assert no_sideways_scroll(page)
    assert serious_accessibility_violations(page) == []
    shots(page, f"{lang}-2-inbox")

    page.select_option("#property_type", "maison")  # no house on offer: the empty state says so
    page.click("text=" + ("Afficher" if lang == "fr" else "Show"))
    page.wait_for_selector("#empty")
    assert serious_accessibility_violations(page) == []
    shots(page, f"{lang}-3-filtered-empty")

    page.goto(f"{pro_site}/pro/account/sessions")
    assert page.locator("tbody tr").count() == 1
    assert no_sideways_scroll(page)
    assert serious_accessibility_violations(page) == []
    shots(page, f"{lang}-4-sessions")

    page.click("header button[type=submit]")  # sign out
    page.wait_for_url("**/pro/login")
    page.goto(f"{pro_site}/pro/leads")
    page.wait_for_url("**/pro/login**")
    context.close()


@pytest.mark.parametrize(("lang", "viewport"), [("fr", PHONE), ("en", DESKTOP)])
def test_an_owner_invites_a_collaborator_who_joins(
    browser, pro_site, session, shots, lang, viewport
) -> None:
    (agency,) = buyers(session, 1, name="Agence du Centre")
    owner = person(agency.agency_id, role="owner", name="Odile Owner")
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(f"{pro_site}/pro/login?lang={lang}")
    sign_in_with_the_keyboard(page, pro_site, owner)

    page.click("nav >> text=" + ("Équipe" if lang == "fr" else "Team"))
    page.wait_for_selector("#invite-email")
    page.fill("#invite-name", "Bruno Buyer")
    page.fill("#invite-email", "bruno@agence.example")
    page.keyboard.press("Enter")
    page.wait_for_selector(".notice")
    assert "Bruno Buyer" in (page.text_content("table") or "")
    assert no_sideways_scroll(page)
    assert serious_accessibility_violations(page) == []
    shots(page, f"{lang}-1-team")

    text_of_mail = session.execute(
        text("SELECT payload->>'text' FROM outbox WHERE event = 'person.invitation'")
    ).scalar_one()
    link = re.search(r"/pro/welcome\?token=\S+", text_of_mail).group(0)  # type: ignore[union-attr]
    newcomer = browser.new_context(viewport=viewport).new_page()
    newcomer.goto(f"{pro_site}{link}&lang={lang}")
    assert "Bruno Buyer" in (newcomer.text_content("h1") or "")
    assert serious_accessibility_violations(newcomer) == []
    shots(newcomer, f"{lang}-2-welcome")
    newcomer.fill("#password", "une phrase que je retiens bien")
    newcomer.fill("#confirm", "une phrase que je retiens bien")
    newcomer.keyboard.press("Enter")
    newcomer.wait_for_selector("header nav")
    assert "Agence du Centre" in (newcomer.text_content("header") or "")
    assert "Bruno Buyer" in (newcomer.text_content("header") or "")
    shots(newcomer, f"{lang}-3-joined-inbox")
    context.close()
    newcomer.context.close()


def test_a_buyer_sets_up_two_step_sign_in_and_uses_it(browser, pro_site, session, shots) -> None:
    (agency,) = buyers(session, 1, name="Agence du Centre")
    email = person(agency.agency_id)
    page = browser.new_context(viewport=PHONE).new_page()
    sign_in_with_the_keyboard(page, pro_site, email)

    page.goto(f"{pro_site}/pro/account/security")
    assert serious_accessibility_violations(page) == []
    shots(page, "1-security")
    page.click("text=Activer la connexion en deux étapes")
    page.wait_for_selector("img[alt*='QR']")
    assert no_sideways_scroll(page)
    assert serious_accessibility_violations(page) == []
    shots(page, "2-scan")
    secret = page.text_content("code") or ""
    page.fill("#code", pyotp.TOTP(secret).now())
    page.keyboard.press("Enter")
    page.wait_for_selector("#recovery-codes")
    assert page.locator("#recovery-codes li").count() == 10
    assert serious_accessibility_violations(page) == []
    shots(page, "3-recovery-codes")
    page.context.close()

    again = browser.new_context(viewport=PHONE).new_page()
    sign_in_with_the_keyboard_then_code(again, pro_site, email, secret)
    assert again.locator("header nav").count() == 1
    again.context.close()


def sign_in_with_the_keyboard_then_code(page: Any, base: str, email: str, secret: str) -> None:
    page.goto(f"{base}/pro/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("#code")
    assert serious_accessibility_violations(page) == []
    page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))
    page.keyboard.press("Enter")
    # Signed in, the header has the main menu; the code page has only the footer's menu.
    page.wait_for_selector("header nav, .alert")
    assert page.locator(".alert").count() == 0, page.text_content(".alert")


def test_a_buyer_adds_a_passkey_and_signs_in_with_it(browser, pro_site, session, shots) -> None:
    """Chromium's virtual authenticator (DevTools protocol) stands for the phone or laptop."""
    (agency,) = buyers(session, 1, name="Agence du Centre")
    email = person(agency.agency_id)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    sign_in_with_the_keyboard(page, pro_site, email)
    page.goto(f"{pro_site}/pro/account/security")
    page.fill("#passkey-name", "Ordinateur du bureau")
    page.click("#passkey-add")
    page.wait_for_selector("#passkeys")
    assert "Ordinateur du bureau" in (page.text_content("#passkeys") or "")
    assert serious_accessibility_violations(page) == []
    shots(page, "1-passkey-added")
    page.click("header button[type=submit]")  # sign out
    page.wait_for_selector("#passkey-sign-in:not([hidden])")
    shots(page, "2-sign-in")

    page.click("#passkey-sign-in")  # no e-mail, no password

    page.wait_for_selector("header nav")
    assert page.url.endswith("/pro/")
    used = session.execute(
        text("SELECT sign_count, last_used_at IS NOT NULL FROM person_passkey")
    ).one()
    assert used[1]
    context.close()


@pytest.mark.parametrize(("lang", "viewport"), [("fr", PHONE), ("en", DESKTOP)])
def test_a_buyer_buys_a_lead_with_the_keyboard_alone(
    browser, pro_site, session, shots, lang, viewport
) -> None:
    (agency,) = buyers(session, 1, name="Agence du Centre")
    offered_lead(session)
    email = person(agency.agency_id)
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(f"{pro_site}/pro/login?lang={lang}")
    sign_in_with_the_keyboard(page, pro_site, email)

    page.focus(".offer a.button")  # the buy link of the only offer
    page.keyboard.press("Enter")
    page.wait_for_selector("#what-happens")
    assert serious_accessibility_violations(page) == []
    assert no_sideways_scroll(page)
    shots(page, f"{lang}-1-confirm")
    page.focus("form.card button[type=submit]")
    page.keyboard.press("Enter")

    page.wait_for_selector("a[href^='tel:+33']")
    assert serious_accessibility_violations(page) == []
    assert no_sideways_scroll(page)
    shots(page, f"{lang}-2-contact")
    page.select_option("#pipeline_status", "contacted")
    page.focus("#notes")
    page.keyboard.type("Rappeler après 18 h" if lang == "fr" else "Call back after 6 pm")
    page.focus("form.card button[type=submit]")
    page.keyboard.press("Enter")
    # The contact's page already has a notice (bought): the saved stage's page, then its notice.
    page.wait_for_url("**/pro/contacts/*?saved=1")
    page.wait_for_selector(".notice")
    page.goto(f"{pro_site}/pro/contacts")
    assert page.locator("tbody tr").count() == 1
    assert serious_accessibility_violations(page) == []
    shots(page, f"{lang}-3-contacts")
    with page.expect_download() as download:  # the export for French Excel, from the page
        page.click("#export")
    header = Path(download.value.path()).read_bytes().splitlines()[0]
    assert header.startswith("\ufeffRéférence de l'achat;Acheté le;".encode())
    page.click("nav >> text=" + ("Tableau de bord" if lang == "fr" else "Dashboard"))
    page.wait_for_selector("#stages-title")
    assert serious_accessibility_violations(page) == []
    assert no_sideways_scroll(page)
    shots(page, f"{lang}-4-dashboard")
    page.context.close()
