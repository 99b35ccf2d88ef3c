"""A homeowner on a partner's site fills the embedded form in a real browser (headless Chromium)."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from engine.intake.reference import reference_of
from tests.browser.conftest import serious_accessibility_violations
from tests.helpers import add_agency, add_sale

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}


@pytest.fixture
def rennes(session) -> list[str]:  # type: ignore[no-untyped-def]
    """Three agencies around Rennes and enough sales for a confident estimate."""
    agencies = [
        add_agency(session, -1.68, 48.11, name="Agence du Centre"),
        add_agency(session, -1.64, 48.12, name="Agence de Cesson"),
        add_agency(session, -1.75, 48.08, name="Agence de Bruz"),
    ]
    for n in range(14):
        add_sale(
            session,
            -1.6749 + n * 0.0004,
            48.0931,
            3_200 + n * 40,
            synthetic=True,
            sold_on=date.today() - timedelta(days=40 + n),
        )
    session.commit()
    return [str(a) for a in agencies]


def form_frame(page: Any) -> Any:
    """The form's frame inside the partner's page, once it has loaded."""
    page.wait_for_selector("iframe")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "/forms/estimation" in frame.url:
                frame.wait_for_selector("#estimate-submit")
                return frame
        time.sleep(0.1)
    raise AssertionError("the form's iframe did not load")


def keyboard(where: Any) -> Any:
    """The keyboard of a page, or of the page holding a frame."""
    return where.keyboard if hasattr(where, "keyboard") else where.page.keyboard


def fill_property(form: Any) -> None:
    form.click("label[for=type-appartement]")  # the mouse
    form.focus("#surface_m2")  # then the keyboard
    keys = keyboard(form)
    keys.type("72")
    keys.press("Tab")
    keys.type("3")
    keys.press("Tab")
    keys.type("35000")
    form.wait_for_function("() => document.querySelector('#city').options.length > 0")
    form.wait_for_function("() => !document.querySelector('#city').disabled")


def no_sideways_scroll(frame: Any) -> bool:
    return bool(
        frame.evaluate(
            "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def test_a_homeowner_fills_both_steps_on_a_partner_site(
    browser, partner_site, session, rennes, shots
) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.goto(partner_site)
    form = form_frame(page)
    assert "source=immo-partenaire" in form.url
    assert page.evaluate("() => location.origin") != form.evaluate("() => location.origin")

    fill_property(form)
    assert form.input_value("#city") != ""
    shots(page, "1-property")
    keyboard(form).press("Enter")

    form.wait_for_selector("#step-contact:not([hidden])")
    estimate = form.text_content("#estimate-range") or ""
    assert "€" in estimate
    assert "comparables" in (form.text_content("#estimate") or "")
    assert form.is_visible("#synthetic-notice")
    names = form.locator("#agency-list label").all_text_contents()
    assert [n for n in names if "Agence du Centre" in n]
    assert len(names) == 3
    boxes = form.locator("input[name=agency_ids]")
    assert not any(boxes.nth(i).is_checked() for i in range(3))  # none ticked in advance
    assert not form.is_checked("#consent-all")
    # The wording and the boxes sit right above the button that sends them.
    order = form.evaluate(
        "() => [...document.querySelector('#lead-form').children].slice(-3).map(e => e.id"
        " || e.className)"
    )
    assert order == ["agency-group", "privacy", "lead-submit"]
    assert "cochées" in (form.text_content("#consent-text") or "")
    # Next to the consent: who buys and when, from the live settings, that agencies pay, and
    # the privacy policy.
    form.wait_for_function(
        "() => /24 heures/.test(document.querySelector('#selling-rule').textContent)"
    )
    rule = form.text_content("#selling-rule") or ""
    assert "3 au plus" in rule
    assert "paient Mandat" in rule
    assert form.get_attribute("#privacy-link", "href") == "/privacy?lang=fr"
    assert form.get_attribute("#legal-link", "href") == "/legal?lang=fr"
    shots(page, "2-estimate-and-agencies")

    boxes.nth(0).click()  # the mouse: these two agencies may call, the second may not
    form.check("label[for=agency-2]")
    untick = boxes.nth(1).get_attribute("value")
    form.focus("#first_name")
    for value in ("Claire", "Martin", "claire.martin@exemple.fr", "06 12 34 56 78"):
        keyboard(form).type(value)
        keyboard(form).press("Tab")
    form.select_option("#timeline", "lt_3_months")
    form.check("#is_owner-yes")
    time.sleep(3)  # a person reads the estimate before sending
    form.click("#lead-submit")

    form.wait_for_selector("#step-done:not([hidden])")
    assert form.evaluate("() => document.activeElement.id") == "h-done"
    lead_id = session.execute(text("SELECT id FROM lead")).scalar_one()
    assert form.text_content("#done-reference") == reference_of(lead_id)
    assert "€" in (form.text_content("#done-estimate") or "")
    assert "24 heures" in (form.text_content("#done-call") or "")
    shots(page, "3-done")

    lead = session.execute(
        text("""
            SELECT l.status, e.source, l.consent_origin,
                   (SELECT array_agg(agency_id::text) FROM lead_consent c WHERE c.lead_id = l.id),
                   (SELECT array_agg(DISTINCT ticked_via) FROM lead_consent c
                    WHERE c.lead_id = l.id)
            FROM lead l JOIN estimation e ON e.id = l.estimation_id
        """)
    ).one()
    assert lead[0] == "qualified"
    assert lead[1] == "immo-partenaire"
    assert lead[2] == page.evaluate("() => location.origin")  # the partner's page
    assert sorted(lead[3]) == sorted(a for a in rennes if a != untick)
    assert lead[4] == ["box"]  # each ticked by the person on its own box
    # The lead is on offer to the consented agencies only.
    offered_to = session.execute(
        text("SELECT count(*) FROM outbox WHERE event = 'lead.offered' AND channel = 'email'")
    ).scalar_one()
    assert offered_to == 2
    page.close()


def test_no_agency_is_consented_until_the_person_ticks_one_or_all(
    browser, live_server, session, rennes, shots
) -> None:
    session.execute(text("UPDATE setting SET value = '2' WHERE key = 'shared_cap'"))
    session.commit()  # the sentence next to the consent follows the live settings
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/forms/estimation")
    fill_property(page)
    page.click("#estimate-submit")
    page.wait_for_selector("#step-contact:not([hidden])")
    page.wait_for_function(
        "() => /2 au plus/.test(document.querySelector('#selling-rule').textContent)"
    )
    page.fill("#first_name", "Luc")
    page.fill("#last_name", "Bernard")
    page.fill("#email", "luc.bernard@exemple.fr")
    page.fill("#phone", "06 98 76 54 32")
    page.select_option("#timeline", "asap")
    page.check("#is_owner-yes")

    page.click("#lead-submit")  # nothing ticked: told next to the boxes, nothing sent
    assert "Cochez au moins une agence" in (page.text_content("#agency_ids-error") or "")
    assert page.get_attribute("input[name=agency_ids] >> nth=0", "aria-invalid") == "true"
    assert session.execute(text("SELECT count(*) FROM lead")).scalar_one() == 0
    shots(page, "1-no-agency-ticked")

    page.check("#consent-all")  # the explicit control for all of them
    boxes = page.locator("input[name=agency_ids]")
    assert all(boxes.nth(i).is_checked() for i in range(3))
    assert (page.text_content("#agency_ids-error") or "").strip() == ""
    boxes.nth(2).click()  # then one is unticked again: "all" is no longer true
    assert page.evaluate("() => document.querySelector('#consent-all').indeterminate")
    time.sleep(3)  # a person reads the estimate before sending
    page.click("#lead-submit")
    page.wait_for_selector("#step-done:not([hidden])")
    assert page.locator("#done-agencies li").count() == 2

    ticks = session.execute(text("SELECT ticked_via, count(*) FROM lead_consent GROUP BY 1")).all()
    assert dict(ticks) == {"all": 2}
    origin = session.execute(text("SELECT consent_origin FROM lead")).scalar_one()
    assert origin == live_server  # not embedded: Mandat's own page
    page.close()


def test_the_iframe_follows_its_content_and_ignores_the_host_css(
    browser, partner_site, rennes
) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.goto(partner_site)
    form = form_frame(page)
    iframe = page.locator("iframe")

    page.wait_for_function("document.querySelector('iframe').getBoundingClientRect().height > 300")
    before = iframe.bounding_box()["height"]
    fill_property(form)
    keyboard(form).press("Enter")
    form.wait_for_selector("#step-contact:not([hidden])")
    page.wait_for_function(
        f"() => document.querySelector('iframe').getBoundingClientRect().height > {before + 100}"
    )
    content = form.evaluate("() => document.body.scrollHeight")
    assert abs(iframe.bounding_box()["height"] - content) < 40
    # The host page makes its labels 40px and red; the form's stay its own.
    label_size = form.evaluate("() => getComputedStyle(document.querySelector('label')).fontSize")
    assert label_size != "40px"
    page.close()


def test_errors_are_shown_next_to_their_fields_and_announced(
    browser, live_server, rennes, shots
) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{live_server}/forms/estimation")

    page.click("#estimate-submit")  # nothing filled in
    assert page.is_visible("#error-summary")
    assert page.get_attribute("#error-summary", "role") == "alert"
    assert page.get_attribute("#surface_m2", "aria-invalid") == "true"
    assert (page.text_content("#surface_m2-error") or "").strip()
    assert "surface_m2-error" in (page.get_attribute("#surface_m2", "aria-describedby") or "")

    page.click("label[for=type-maison]")
    page.fill("#surface_m2", "3")  # the server says 5 m² at least; the form says it first
    page.fill("#rooms", "2")
    page.fill("#postal_code", "99999")
    # The look-up's answer: the empty submit's "5 chiffres" message stays until it comes.
    page.wait_for_function(
        "() => /inconnu/.test(document.querySelector('#postal_code-error').textContent)"
    )
    page.click("#estimate-submit")
    assert (page.text_content("#surface_m2-error") or "").strip()
    assert "inconnu" in (page.text_content("#postal_code-error") or "")
    shots(page, "1-errors")

    page.fill("#surface_m2", "95")
    page.fill("#postal_code", "35000")
    page.wait_for_function("() => !document.querySelector('#city').disabled")
    page.click("#estimate-submit")
    page.wait_for_selector("#step-contact:not([hidden])")
    page.fill("#first_name", "Claire")
    page.fill("#last_name", "Martin")
    page.fill("#email", "claire@mailinator.com")  # refused by the server: disposable
    page.fill("#phone", "08 99 12 34 56")  # refused by the server: premium rate
    page.select_option("#timeline", "asap")
    page.check("#is_owner-no")
    page.check("label[for=agency-0]")  # no box is ticked in advance any more
    page.click("#lead-submit")
    page.wait_for_selector("#phone[aria-invalid=true]")
    assert (page.text_content("#phone-error") or "").strip()
    assert (page.text_content("#email-error") or "").strip()
    page.wait_for_function("() => ['email', 'phone'].includes(document.activeElement.id)")
    shots(page, "2-server-errors")
    page.close()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_on_a_phone_no_sideways_scroll_and_no_serious_accessibility_issue(
    browser, live_server, rennes, shots, lang
) -> None:
    # axe is injected as a script: the form's content security policy would refuse it.
    context = browser.new_context(viewport=PHONE, bypass_csp=True, is_mobile=True)
    page = context.new_page()
    page.goto(f"{live_server}/forms/estimation?lang={lang}")
    page.wait_for_selector("#estimate-submit")
    assert page.evaluate("() => document.documentElement.lang") == lang
    assert no_sideways_scroll(page)
    assert serious_accessibility_violations(page) == []

    page.click("#estimate-submit")  # the error state is checked too
    assert serious_accessibility_violations(page) == []

    fill_property(page)
    page.click("#estimate-submit")
    page.wait_for_selector("#step-contact:not([hidden])")
    assert no_sideways_scroll(page)
    assert serious_accessibility_violations(page) == []
    shots(page, f"{lang}-step-2")

    # Keyboard only: every field reachable, and the focus always visible.
    page.focus("#first_name")
    outline = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; })()"
    )
    assert outline
    context.close()


@pytest.mark.parametrize(
    ("lang", "wording", "adjustments"),
    [
        ("fr", "fiabilité moyenne", ["-8 % : rez-de-chaussée", "+4 % : balcon"]),
        ("en", "medium confidence", ["-8%: ground floor", "+4%: balcony"]),
    ],
)
def test_the_estimate_shows_its_adjustments_and_why_it_is_so_sure(
    browser, live_server, rennes, shots, lang, wording, adjustments
) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    page.goto(f"{live_server}/forms/estimation?lang={lang}")
    page.wait_for_selector("#estimate-submit")
    fill_property(page)
    page.click("#more summary")
    page.fill("#floor", "0")
    page.select_option("#outdoor_space", "balcony")
    page.click("#estimate-submit")
    page.wait_for_selector("#step-contact:not([hidden])")

    def text_of(selector: str) -> str:
        return " ".join((page.text_content(selector) or "").replace("\u202f", " ").split())

    # Generated sales (the `rennes` fixture): never "high", and the form says why.
    assert wording in text_of("#estimate-facts")
    why = text_of("#estimate-why")
    assert ("fictives" if lang == "fr" else "fictitious") in why
    items = [" ".join(i.replace("\u202f", " ").split()) for i in
             page.locator("#adjustment-list li").all_text_contents()]  # fmt: skip
    assert items == adjustments
    assert no_sideways_scroll(page)
    shots(page, f"{lang}-adjusted-estimate")
    context.close()
