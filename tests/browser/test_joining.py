"""An agency applies to join Mandat in a real browser: French and English, at 360 px, errors
next to their field, axe-core clean."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.browser.conftest import serious_accessibility_violations
from tests.browser.test_pro_inbox import DESKTOP, PHONE, no_sideways_scroll


@pytest.mark.parametrize(("lang", "viewport"), [("fr", PHONE), ("en", DESKTOP)])
def test_an_agency_applies_from_its_browser(browser, pro_site, session, shots, lang, viewport):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(f"{pro_site}/pro/join/?lang={lang}")
    assert serious_accessibility_violations(page) == []
    assert no_sideways_scroll(page)

    page.fill("#name", "Agence des Lices")
    page.fill("#siret", "732 829 320 00075")  # a wrong check digit
    page.fill("#card_number", "CPI 3501 2024 000 012 345")
    page.fill("#street", "12 place des Lices")
    page.fill("#postal_code", "35000")
    page.fill("#city", "Rennes")
    page.fill("#contact_name", "Nadia Roux")
    page.fill("#contact_email", "nadia@lices.example")
    page.click("button[type=submit]")

    page.wait_for_selector("#siret-error")
    assert page.get_attribute("#siret", "aria-invalid") == "true"
    assert serious_accessibility_violations(page) == []
    shots(page, f"join-error-{lang}")
    page.fill("#siret", "732 829 320 00074")
    page.click("button[type=submit]")

    page.wait_for_selector("#sent")
    assert "nadia@lices.example" in (page.text_content("#sent") or "")
    shots(page, f"join-sent-{lang}")
    assert session.execute(text("SELECT count(*) FROM agency_application")).scalar_one() == 1
    context.close()
