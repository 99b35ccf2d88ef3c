"""Espace Pro's inbox, live, in a real browser and across real server processes: a homeowner's
request written through one server shows in a buyer's inbox open on another, without reload
(PostgreSQL LISTEN/NOTIFY); a lead sold meanwhile is marked on the card, on a later page too,
where a new lead is announced with a link to the first page; a signed-out session stops the
stream; a person's streams are bounded; a purchase made with Tab and Enter alone; two agencies
clicking "buy" on one exclusive lead at once."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from engine.pagination import write_cursor
from tests.browser.conftest import serious_accessibility_violations
from tests.browser.test_pro_inbox import DESKTOP, PHONE, no_sideways_scroll
from tests.market import Buyer, buyers, offered_lead
from tests.pro import PASSWORD, person
from tests.processes import process_env, served

WORDS = {
    "fr": {"new": "Nouveau lead", "gone": "Plus en vente", "sold": "vendu entre-temps"},
    "en": {"new": "New lead", "gone": "No longer on offer", "sold": "sold meanwhile"},
}


@pytest.fixture(scope="module")
def two_servers(database_url: str) -> Iterator[tuple[str, str]]:
    """Two `mandat serve` processes on one database, as `localhost` (a secure context: the
    production cookie). A's streams beat every second, so a signed-out session ends fast."""
    with ExitStack() as stack:
        a = stack.enter_context(
            served(process_env(database_url, MANDAT_SSE_HEARTBEAT_S="1"), "inbox-a", workers=1)
        )
        b = stack.enter_context(served(process_env(database_url), "inbox-b", workers=1))
        yield a.replace("127.0.0.1", "localhost"), b.replace("127.0.0.1", "localhost")


def sign_in(page: Any, base: str, email: str, lang: str = "fr") -> None:
    """Signed in (the language remembered), then the inbox."""
    page.goto(f"{base}/pro/login?lang={lang}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("header nav")
    page.goto(f"{base}/pro/leads")


def live(page: Any) -> None:
    """The inbox's stream is open and the server hears the database for it."""
    page.wait_for_selector("#offers[data-live=on]", state="attached", timeout=15000)


def homeowner_asks(base: str, session: Any, agencies: list[Buyer], n: int) -> str:
    """The estimation form's API, steps 1 and 2, on server `base`; returns the lead's id."""
    step1 = httpx.post(
        f"{base}/api/v1/estimations",
        json={
            "property": {"type": "maison", "surface_m2": 90, "rooms": 4},
            "address": {"postal_code": "35000", "city": "Rennes"},
        },
        timeout=30,
    )
    assert step1.status_code == 201, step1.text
    session.execute(text("UPDATE estimation SET created_at = created_at - interval '1 min'"))
    session.commit()  # a person takes more than a few seconds to fill step 2
    step2 = httpx.post(
        f"{base}/api/v1/estimations/{step1.json()['id']}/lead",
        json={
            "contact": {
                "first_name": "Jean",
                "last_name": "Dupont",
                "email": f"jean.{n}@exemple.fr",
                "phone": f"06140{n:05d}",
            },
            "project": {"timeline": "lt_3_months", "is_owner": True},
            "consent": {
                "agency_ids": [str(a.agency_id) for a in agencies],
                "text_version": "consent-2026-11-fr",
            },
            "website": "",
        },
        headers={"X-Forwarded-For": f"198.51.100.{n}"},
        timeout=30,
    )
    assert step2.status_code == 201, step2.text
    return str(step2.json()["lead_id"])


def buy_through_the_api(base: str, buyer: Buyer, lead: str) -> None:
    offer = httpx.get(f"{base}/api/v1/leads/{lead}", headers=buyer.headers, timeout=30).json()
    bought = httpx.post(
        f"{base}/api/v1/leads/{lead}/purchase",
        json={"mode": "exclusive", "price_cents": offer["price_cents"]},
        headers={**buyer.headers, "Idempotency-Key": f"api-{lead}"},
        timeout=30,
    )
    assert bought.status_code == 201, bought.text


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_homeowners_request_shows_in_the_inbox_open_on_another_server(
    browser, two_servers, session, shots, lang
) -> None:
    a, b = two_servers
    mine, theirs = buyers(session, 2)
    page = browser.new_context(viewport=PHONE).new_page()
    sign_in(page, a, person(mine.agency_id), lang)
    page.wait_for_selector("#empty")
    live(page)
    page.evaluate("() => { window.sameDocument = true; }")

    lead = homeowner_asks(b, session, [mine, theirs], 11 if lang == "fr" else 12)

    card = page.wait_for_selector(f"#offer-{lead}", timeout=15000)
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"
    assert page.locator("#empty").count() == 0
    assert "Rennes (35000)" in card.text_content()
    assert re.search(r"\d+ h \d{2} min", page.text_content(f"#offer-{lead} time.countdown") or "")
    assert WORDS[lang]["new"] in (page.text_content("#live-status") or "")
    assert no_sideways_scroll(page)
    assert serious_accessibility_violations(page) == []
    shots(page, f"{lang}-1-arrived")

    buy_through_the_api(b, theirs, lead)  # another agency takes the exclusive lead

    page.wait_for_selector(f"#offer-{lead}.gone", timeout=15000)
    assert WORDS[lang]["gone"] in (page.text_content(f"#offer-{lead}") or "")
    assert page.locator(f"#offer-{lead} a.button").count() == 0
    assert serious_accessibility_violations(page) == []
    shots(page, f"{lang}-2-sold-meanwhile")
    page.context.close()


def test_a_later_page_marks_a_card_sold_and_points_to_a_new_lead_on_the_first(
    browser, two_servers, session, shots
) -> None:
    a, b = two_servers
    mine, theirs = buyers(session, 2)
    older = offered_lead(session, consent_to=[mine, theirs])
    newer = offered_lead(session, consent_to=[mine, theirs])
    offered = session.execute(
        text("SELECT created_at FROM catalogue_entry WHERE agency_id = :a AND lead_id = :l"),
        {"a": mine.agency_id, "l": newer},
    ).scalar_one()
    session.commit()
    later = f"/pro/leads?min_grade=&sort=newest&cursor={write_cursor(offered, newer)}"
    page = browser.new_context(viewport=PHONE).new_page()
    sign_in(page, a, person(mine.agency_id))
    page.goto(f"{a}{later}")  # the page after `newer`, as with a page of one
    page.wait_for_selector(f"#offer-{older}")
    live(page)

    buy_through_the_api(b, theirs, str(older))
    page.wait_for_selector(f"#offer-{older}.gone", timeout=15000)
    assert WORDS["fr"]["gone"] in (page.text_content(f"#offer-{older}") or "")

    lead = homeowner_asks(b, session, [mine, theirs], 13)
    page.wait_for_selector("#live-news a", timeout=15000)
    assert "1 nouvelle offre — voir la première page" in (page.text_content("#live-news") or "")
    assert page.locator(f"#offer-{lead}").count() == 0  # it belongs on top of the first page
    assert page.get_attribute("#live-news", "aria-live") == "polite"
    assert serious_accessibility_violations(page) == []
    assert no_sideways_scroll(page)
    shots(page, "fr-3-later-page")
    page.click("#live-news a")
    page.wait_for_selector(f"#offer-{lead}")
    assert "cursor" not in page.url
    assert page.locator("#offers li.offer").first.get_attribute("id") == f"offer-{lead}"
    page.context.close()


def test_signing_out_stops_the_stream_and_streams_are_bounded(
    browser, two_servers, session
) -> None:
    a, _ = two_servers
    (mine,) = buyers(session, 1)
    context = browser.new_context(viewport=DESKTOP)
    inbox = context.new_page()
    sign_in(inbox, a, person(mine.agency_id))
    live(inbox)
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())

    client = httpx.Client(base_url=a, headers={"Cookie": cookie}, timeout=10)
    with client, ExitStack() as streams:  # four more streams of this person: the sixth refused
        reading = []  # (an iterator dropped would close its connection)
        for _ in range(4):
            opened = streams.enter_context(client.stream("GET", "/pro/leads/stream"))
            assert opened.status_code == 200
            assert opened.headers["content-type"].startswith("text/event-stream")
            reading.append(opened.iter_lines())
            assert next(reading[-1]) == "event: ready"
        with client.stream("GET", "/pro/leads/stream") as sixth:
            assert sixth.status_code == 429
    assert httpx.get(f"{a}/pro/leads/stream", timeout=10).status_code == 401  # no session

    other_tab = context.new_page()
    other_tab.goto(f"{a}/pro/")
    other_tab.click("header button[type=submit]")  # sign out
    other_tab.wait_for_url("**/pro/login")

    inbox.wait_for_selector("#live-stopped:not([hidden])", timeout=10000)
    assert inbox.get_attribute("#offers", "data-live") == "off"
    context.close()


def press_tab_until(page: Any, selector: str, limit: int = 40) -> None:
    """Tab through the page until `selector` has the focus (as a keyboard user would)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} never got the focus with Tab")


def test_a_purchase_with_tab_and_enter_alone(browser, two_servers, session, shots) -> None:
    a, _ = two_servers
    (mine,) = buyers(session, 1)
    lead = offered_lead(session)
    page = browser.new_context(viewport=PHONE).new_page()
    sign_in(page, a, person(mine.agency_id))
    live(page)

    press_tab_until(page, f"#offer-{lead} a.button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#what-happens")
    press_tab_until(page, "form.card button[type=submit]")
    page.keyboard.press("Enter")

    page.wait_for_selector("a[href^='tel:+33']")
    assert "/pro/contacts/" in page.url
    assert serious_accessibility_violations(page) == []
    shots(page, "contact")
    page.context.close()


def test_two_agencies_click_buy_at_once_one_is_told_it_was_sold(
    browser, two_servers, session, shots
) -> None:
    a, b = two_servers
    first, second = buyers(session, 2)
    lead = offered_lead(session, consent_to=[first, second])
    pages = []
    for buyer, base in ((first, a), (second, b)):  # one browser on each server
        page = browser.new_context(viewport=DESKTOP).new_page()
        sign_in(page, base, person(buyer.agency_id))
        page.goto(f"{base}/pro/leads/{lead}/buy")
        page.wait_for_selector("form.card button[type=submit]")
        pages.append(page)

    at = time.time() * 1000 + 700  # both click at the same instant
    for page in pages:
        page.evaluate(
            """(at) => setTimeout(() => document.querySelector("form.card button[type=submit]")
                                          .click(), at - Date.now())""",
            at,
        )
    for page in pages:
        page.wait_for_selector("a[href^='tel:+33'], #buy-error", timeout=20000)

    outcomes = sorted("won" if p.locator("#buy-error").count() == 0 else "lost" for p in pages)
    assert outcomes == ["lost", "won"]
    loser = next(p for p in pages if p.locator("#buy-error").count())
    assert WORDS["fr"]["sold"] in (loser.text_content("#buy-error") or "")
    assert serious_accessibility_violations(loser) == []
    shots(loser, "told-sold-meanwhile")
    assert session.execute(text("SELECT count(*) FROM purchase")).scalar_one() == 1
    for page in pages:
        page.context.close()
