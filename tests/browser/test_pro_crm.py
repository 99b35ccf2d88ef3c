"""Espace Pro in a real browser: a buyer works a bought contact — logs a call, sets an appointment
and adds it to a calendar (the .ics read back with `icalendar`), moves the contact on the board
(with the keyboard, then the mouse), corrects the call, moves then cancels the appointment (the
calendar file updates the same event), asks a refund — and the owner sees it on the team page;
on a desk and on a phone, in French and English, axe-clean."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import text

from tests.browser.conftest import serious_accessibility_violations
from tests.browser.test_pro_inbox import (
    DESKTOP,
    PHONE,
    no_sideways_scroll,
    sign_in_with_the_keyboard,
)
from tests.market import buyers, offered_lead
from tests.pro import person

PARIS = ZoneInfo("Europe/Paris")


def clean_and_fitting(page) -> None:  # type: ignore[no-untyped-def]
    assert serious_accessibility_violations(page) == []
    assert no_sideways_scroll(page)


@pytest.mark.parametrize(
    ("lang", "viewport", "size"), [("fr", DESKTOP, "1280"), ("en", PHONE, "360")]
)
def test_a_buyer_works_a_contact_and_the_owner_sees_it(
    browser, pro_site, session, shots, lang, viewport, size
) -> None:
    (agency,) = buyers(session, 1, name="Agence du Centre")
    offered_lead(session)
    buyer = person(agency.agency_id, name="Bruno Buyer")
    owner = person(agency.agency_id, role="owner", name="Odile Owner")
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{pro_site}/pro/login?lang={lang}")
    sign_in_with_the_keyboard(page, pro_site, buyer)
    page.click(".offer a.button")
    page.wait_for_selector("#what-happens")
    page.click("form.card button[type=submit]")
    page.wait_for_selector("a[href^='tel:+33']")
    purchase = page.url.split("/pro/contacts/")[1].split("?")[0]

    # A call, logged once made.
    page.select_option("#kind", "call")
    said = "Rappeler après 18 h" if lang == "fr" else "Call back after 6 pm"
    page.fill("#body", said)
    page.click("#log button[type=submit]")
    # The page after the purchase already has a notice (bought): the logged call's page.
    page.wait_for_url(f"**/pro/contacts/{purchase}?done=logged*")
    page.wait_for_selector(".notice")
    assert said in (page.text_content("#timeline") or "")
    assert "Bruno Buyer" in (page.text_content("#timeline") or "")

    # An appointment, then into the calendar.
    day = (datetime.now(PARIS) + timedelta(days=1)).date()
    page.fill("#appointment-day", day.isoformat())
    page.fill("#appointment-starts", "14:30")
    page.fill("#appointment-ends", "15:30")
    page.click("form[action$='/appointments'] button[type=submit]")
    page.wait_for_selector("#appointments")
    clean_and_fitting(page)
    shots(page, f"{lang}-{size}-1-contact")
    with page.expect_download() as download:
        page.click("#appointments a[download]")
    ics = Path(download.value.path()).read_bytes()
    (event,) = Calendar.from_ical(ics).walk("VEVENT")
    assert event.decoded("dtstart").astimezone(PARIS).strftime("%Y-%m-%d %H:%M") == (
        f"{day.isoformat()} 14:30"
    )
    assert event.decoded("dtend").astimezone(PARIS).strftime("%H:%M") == "15:30"
    assert "Rennes" in str(event.get("location"))

    # The board: with the keyboard (the card's list and its button), then with the mouse.
    page.click("nav a[href='/pro/board']")
    page.wait_for_selector(f"#card-{purchase}")
    assert page.locator(f"section[data-stage=appointment] #card-{purchase}").count() == 1
    clean_and_fitting(page)
    shots(page, f"{lang}-{size}-2-board")
    page.focus(f"#stage-{purchase}")
    page.select_option(f"#stage-{purchase}", "contacted")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"section[data-stage=contacted] #card-{purchase}")
    if viewport is DESKTOP:  # side by side columns: dragged with the mouse
        page.hover(f"#card-{purchase} p.muted")
        page.mouse.down()
        page.hover("section[data-stage=mandate_signed] h2")
        page.hover("section[data-stage=mandate_signed]")
        page.mouse.up()
        page.wait_for_selector(f"section[data-stage=mandate_signed] #card-{purchase}")
    stage = session.execute(text("SELECT pipeline_status FROM purchase")).scalar_one()
    session.commit()
    assert stage == ("mandate_signed" if viewport is DESKTOP else "contacted")

    # The agenda shows the appointment.
    page.click("nav a[href='/pro/agenda']")
    page.wait_for_selector("#calendar-link")
    assert "14:30" in (page.text_content("main") or "")
    clean_and_fitting(page)
    shots(page, f"{lang}-{size}-3-agenda")

    # Back on the contact: the call corrected, the appointment moved, then cancelled.
    page.goto(f"{pro_site}/pro/contacts/{purchase}")
    page.click("#timeline details summary")
    fixed = "Rappeler après 19 h" if lang == "fr" else "Call back after 7 pm"
    page.fill("#timeline details textarea[name=body]", fixed)
    page.click("#timeline details form:not(.inline) button")
    page.wait_for_selector(".notice")
    assert fixed in (page.text_content("#timeline ol") or "")
    assert said not in (page.text_content("#timeline ol") or "")
    page.click("#appointments details summary")
    page.fill("#appointments details input[name=starts]", "16:00")
    page.fill("#appointments details input[name=ends]", "15:00")  # before it starts: refused
    page.click("#appointments details form:not(.inline) button")
    page.wait_for_selector("#appointments details[open] .error")
    page.fill("#appointments details input[name=ends]", "17:00")
    page.click("#appointments details form:not(.inline) button")
    page.wait_for_selector(".notice")
    assert "16:00" in (page.text_content("#appointments") or "")
    page.click("#appointments details summary")
    clean_and_fitting(page)
    shots(page, f"{lang}-{size}-4-reschedule")
    page.click("#appointments details form.inline button")
    page.wait_for_selector("#appointments li.cancelled")
    clean_and_fitting(page)
    with page.expect_download() as download:
        page.click("#appointments a[download]")
    cancelled = Calendar.from_ical(Path(download.value.path()).read_bytes())
    (again,) = cancelled.walk("VEVENT")
    assert str(cancelled["method"]) == "CANCEL"
    assert str(again["status"]) == "CANCELLED"
    assert str(again["uid"]) == str(event["uid"])  # the same event, updated
    assert int(again["sequence"]) == int(event["sequence"]) + 2  # moved, then cancelled
    assert again.decoded("dtstart").astimezone(PARIS).strftime("%H:%M") == "16:00"

    # A refund, from the contact's page: the logged call is the attempt.
    assert page.locator("#refund-countdown").count() == 1
    page.select_option("#reason", "unreachable")
    page.click("form[action$='/refund'] button[type=submit]")
    # The page already has a notice (the appointment cancelled): the refund request's page.
    page.wait_for_url(f"**/pro/contacts/{purchase}?done=refund*")
    page.wait_for_selector(".notice")
    assert session.execute(
        text("SELECT reason, jsonb_array_length(call_attempts) FROM refund_request")
    ).one() == ("unreachable", 1)
    clean_and_fitting(page)
    shots(page, f"{lang}-{size}-5-refund-asked")
    context.close()

    # The owner sees the buyer's speed to first contact and activity.
    boss = browser.new_context(viewport=viewport).new_page()
    boss.goto(f"{pro_site}/pro/login?lang={lang}")
    sign_in_with_the_keyboard(boss, pro_site, owner)
    boss.goto(f"{pro_site}/pro/team")
    row = boss.locator("tr", has_text="Bruno Buyer")
    assert "min" in (row.text_content() or "")
    assert ("médiane de 1 contact" if lang == "fr" else "median of 1 contact") in (
        row.text_content() or ""
    )
    clean_and_fitting(boss)
    shots(boss, f"{lang}-{size}-6-team")
    boss.context.close()
