"""A homeowner types their street in a real browser (headless Chromium): the form suggests the
streets of the address base, and the agencies' distances are measured from the address chosen."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from engine.demo.ban import Address, addresses, towns, write_ban
from engine.geo.ban import import_ban
from tests.browser.conftest import serious_accessibility_violations
from tests.browser.test_estimation_form import DESKTOP, PHONE, fill_property, no_sideways_scroll
from tests.conftest import issue_key
from tests.helpers import add_agency


@pytest.fixture
def home(session, tmp_path: Path) -> Address:  # type: ignore[no-untyped-def]
    """Rennes's streets imported, an agency at the door of 28 bis boulevard Voltaire and two
    others in town; the address."""
    rows = addresses(towns(session, ["35238"])[0], 30)
    import_ban(session, [write_ban(tmp_path / "adresses-35.csv.gz", rows)])
    address = next(
        a for a in rows if (a.street, a.number, a.rep) == ("Boulevard Voltaire", 28, "bis")
    )
    add_agency(session, address.lon, address.lat, name="Agence de la Porte")
    add_agency(session, -1.64, 48.12, name="Agence de Cesson")
    add_agency(session, -1.75, 48.08, name="Agence de Bruz")
    session.commit()
    return address


def distances(page: Any) -> dict[str, str]:
    labels = page.locator("#agency-list label")
    return {
        labels.nth(i).locator(".name").text_content(): labels.nth(i).locator(".dist").text_content()
        for i in range(labels.count())
    }


def test_a_homeowner_picks_a_suggested_street_and_the_lead_is_placed_at_the_address(
    browser, live_server, session, home, shots
) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/forms/estimation")
    fill_property(page)
    page.click("#estimate-submit")  # no street first: the town hall
    page.wait_for_selector("#step-contact:not([hidden])")
    before = distances(page)
    assert before["Agence de la Porte"] == "à 0,5 km"
    assert "mairie" in (page.text_content("#distance-from") or "")

    page.click("#edit-property")
    page.click("#street")
    page.keyboard.type("28 bis bd volt", delay=30)
    page.wait_for_selector("#street-options:not([hidden]) [role=option]")
    assert page.get_attribute("#street", "aria-expanded") == "true"
    options = page.locator("#street-options [role=option]")
    assert "28 bis Boulevard Voltaire" in (options.first.text_content() or "")
    assert "proposée" in (page.text_content("#street-status") or "")  # announced
    assert serious_accessibility_violations(page) == []
    shots(page, "1-suggestions")
    page.keyboard.press("ArrowDown")  # the keyboard chooses the first
    assert page.get_attribute("#street", "aria-activedescendant") == "street-option-0"
    page.keyboard.press("Enter")
    assert page.input_value("#street") == "28 bis Boulevard Voltaire"
    assert page.is_hidden("#street-options")
    assert page.is_visible("#step-property")  # Enter chose the street; it did not send the form

    page.click("#estimate-submit")
    page.wait_for_selector("#step-contact:not([hidden])")
    after = distances(page)
    assert after["Agence de la Porte"] == "à moins de 0,1 km"
    assert after != before
    assert "votre adresse" in (page.text_content("#distance-from") or "")
    shots(page, "2-distances-from-the-address")

    page.check("label[for=agency-0]")
    page.fill("#first_name", "Claire")
    page.fill("#last_name", "Martin")
    page.fill("#email", "claire.martin@exemple.fr")
    page.fill("#phone", "06 12 34 56 78")
    page.select_option("#timeline", "asap")
    page.check("#is_owner-yes")
    time.sleep(3)  # a person reads the estimate before sending
    page.click("#lead-submit")
    page.wait_for_selector("#step-done:not([hidden])")
    page.close()

    lead_id = session.execute(text("SELECT id FROM lead")).scalar_one()
    staff = httpx.get(
        f"{live_server}/api/v1/admin/leads/{lead_id}",
        headers={"Authorization": f"Bearer {issue_key('admin')}"},
    ).json()
    assert staff["estimation"]["location_precision"] == "address"
    assert staff["estimation"]["location"] == {
        "lat": pytest.approx(home.lat),
        "lon": pytest.approx(home.lon),
    }
    assert next(c for c in staff["candidates"] if c["name"] == "Agence de la Porte")[
        "distance_m"
    ] == pytest.approx(0, abs=1)


def test_on_a_phone_in_english_the_suggestions_fit_and_are_accessible(
    browser, live_server, home, shots
) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    page.goto(f"{live_server}/forms/estimation?lang=en")
    fill_property(page)
    page.click("#street")
    page.keyboard.type("r st mi", delay=30)
    page.wait_for_selector("#street-options:not([hidden]) [role=option]")
    assert "Rue Saint-Michel" in (
        page.locator("#street-options [role=option]").first.text_content() or ""
    )
    assert "suggested" in (page.text_content("#street-status") or "")
    assert no_sideways_scroll(page)
    assert serious_accessibility_violations(page) == []
    shots(page, "en-suggestions")
    page.locator("#street-options [role=option]").first.click()  # a finger chooses
    assert page.input_value("#street") == "Rue Saint-Michel"
    page.keyboard.type("x")  # suggested again (the list was closed: Escape must close it)
    page.wait_for_selector("#street-options:not([hidden]) [role=option]")
    page.keyboard.press("Escape")
    assert page.is_hidden("#street-options")
    context.close()
