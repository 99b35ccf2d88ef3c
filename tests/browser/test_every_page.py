"""Every page of Mandat in a real browser, at 1280 px and at 360 px (issue 13): each one's full
screenshot lands in test-artifacts/pages/<name>-<width>.png, none scrolls sideways at 360 px,
and axe-core finds nothing serious or critical.

One language per width, French at 1280 px and English at 360 px: every page is seen in both
languages and at both widths once (the pages' own browser tests — test_pro_inbox, test_pro_crm,
test_homeowner_pages, test_joining, test_finance_queue… — walk them step by step, with their
forms' answers). One server, one browser, one context per width; the people who have pages
(anyone, someone awaiting their second factor, an agency's owner — a buyer's pages are the same
or less —, finance, an admin) sign in in turn, once each.

The list is checked against the application's own page routes: a new page not in it fails here
until it is added (or excluded, with a reason, when it is no page).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from engine.accounts.keys import Principal
from engine.agencies.applications import Application, submit
from engine.people.invitations import invite
from engine.people.resets import request_reset
from tests.browser.conftest import ROOT, serious_accessibility_violations
from tests.browser.test_finance_queue import pending_request
from tests.browser.test_pro_inbox import DESKTOP, PHONE, no_sideways_scroll
from tests.e2e.test_homeowner_rights import link_token
from tests.e2e.test_pro_second_factor import enrol
from tests.e2e.test_pro_sign_in import browser as http_browser
from tests.market import offered_lead
from tests.pro import PASSWORD, person, sign_in, staff

SHOTS = ROOT / "test-artifacts" / "pages"


@dataclass(frozen=True)
class Page:
    name: str  # of its screenshots
    route: str  # as the application declares it
    who: str  # anyone, pending (second factor awaited), owner, finance, admin
    address: Callable[[dict[str, Any]], str]  # from the data seeded


def fixed(path: str) -> Callable[[dict[str, Any]], str]:
    return lambda _: path


PAGES = [
    Page("login", "/pro/login", "anyone", fixed("/pro/login")),
    Page("forgot", "/pro/forgot", "anyone", fixed("/pro/forgot")),
    Page("reset", "/pro/reset", "anyone", lambda s: f"/pro/reset?token={s['reset']}"),
    Page("welcome", "/pro/welcome", "anyone", lambda s: f"/pro/welcome?token={s['invite']}"),
    Page("join", "/pro/join", "anyone", fixed("/pro/join/")),
    Page("estimation-form", "/forms/estimation", "anyone", fixed("/forms/estimation")),
    Page("me", "/me", "anyone", lambda s: f"/me?token={s['me']}"),
    Page("me-confirm", "/me/confirm", "anyone", lambda s: f"/me/confirm?token={s['confirm']}"),
    Page("me-not-me", "/me/not-me", "anyone", lambda s: f"/me/not-me?token={s['not_me']}"),
    Page("legal", "/legal", "anyone", fixed("/legal")),
    Page("privacy", "/privacy", "anyone", fixed("/privacy")),
    Page("transparency", "/transparency", "anyone", fixed("/transparency")),
    Page("second-factor-code", "/pro/login/code", "pending", fixed("/pro/login/code")),
    Page("dashboard", "/pro", "owner", fixed("/pro/")),
    Page("leads", "/pro/leads", "owner", fixed("/pro/leads")),
    Page("buy", "/pro/leads/{lead_id:uuid}/buy", "owner", lambda s: f"/pro/leads/{s['lead']}/buy"),
    Page("contacts", "/pro/contacts", "owner", fixed("/pro/contacts")),
    Page(
        "contact",
        "/pro/contacts/{purchase_id:uuid}",
        "owner",
        lambda s: f"/pro/contacts/{s['purchase']}",
    ),
    Page("board", "/pro/board", "owner", fixed("/pro/board")),
    Page("agenda", "/pro/agenda", "owner", fixed("/pro/agenda")),
    Page("team", "/pro/team", "owner", fixed("/pro/team")),
    Page("keys", "/pro/team/keys", "owner", fixed("/pro/team/keys")),
    Page("security", "/pro/account/security", "owner", fixed("/pro/account/security")),
    Page("sessions", "/pro/account/sessions", "owner", fixed("/pro/account/sessions")),
    Page("refund-queue", "/staff/refunds", "finance", fixed("/staff/refunds")),
    Page(
        "refund-request",
        "/staff/refunds/{request_id:uuid}",
        "finance",
        lambda s: f"/staff/refunds/{s['refund']}",
    ),
    Page("applications", "/staff/applications", "admin", fixed("/staff/applications")),
    Page(
        "application",
        "/staff/applications/{application_id:uuid}",
        "admin",
        lambda s: f"/staff/applications/{s['application']}",
    ),
]

REDIRECT = "a redirect to another page"
NOT_PAGES = {
    "/healthz": "the load balancer's probe",
    "/readyz": "the load balancer's probe",
    "/metrics": "Prometheus' figures",
    "/embed/estimation.js": "the script a partner's page embeds",
    "/forms/static/{name:str}": "the estimation form's files",
    "/static/{name:str}": "the public pages' stylesheet",
    "/pro/static/{name:str}": "Espace Pro's scripts and stylesheet",
    "/pro/leads/stream": "the live inbox's event stream",
    "/pro/contacts.csv": "the contacts for Excel",
    "/pro/calendar/{name:str}": "the agenda's calendar feed (.ics)",
    "/pro/contacts/{purchase_id:uuid}/appointments/{appointment_id:uuid}/calendar.ics": (
        "one appointment's calendar file"
    ),
    "/dev/mail": "development only: the mails sent, on a machine without a mail server",
    "/staff": REDIRECT,
    "/finance": REDIRECT,
    "/finance/login": REDIRECT,
    "/finance/refunds": REDIRECT,
    "/finance/refunds/{request_id:uuid}": REDIRECT,
    # The API's reference for developers, drawn by Swagger UI (not one of Mandat's pages).
    "/schema": "the API's reference",
    "/schema/swagger": "the API's reference",
    "/schema/oauth2-redirect.html": "the API's reference",
    "/schema/openapi.json": "the API's reference",
    "/schema/assets/{file_path:path}": "the API's reference",
    "/schema/{path:str}": "the API's reference",
}


def page_routes() -> set[str]:
    """The application's GET routes left out of the API's schema: its pages and their files."""
    from api.app import create_app

    return {
        route.path
        for route in create_app().routes
        for handler in getattr(route, "route_handlers", [])
        if "GET" in (handler.http_methods or ()) and not handler.resolve_include_in_schema()
    }


def test_the_list_names_every_page_of_the_application() -> None:
    routes = page_routes()

    assert sorted(routes - NOT_PAGES.keys() - {p.route for p in PAGES}) == []  # new pages
    assert sorted({p.route for p in PAGES} - routes) == []  # pages gone


def seeded(client: Any, session: Any, clean_db: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A bought lead with a refund asked for, another lead on offer, an agency's application,
    the links mailed to the homeowner and to a person; (the addresses' ids, who signs in)."""
    refund, _ = pending_request(client, session)
    agency_id, purchase = session.execute(
        text("SELECT agency_id, purchase_id FROM refund_request")
    ).one()
    seeds: dict[str, Any] = {
        "refund": refund,
        "purchase": purchase,
        "me": link_token(session, "/me"),
        "confirm": link_token(session, "/me/confirm"),
        "not_me": link_token(session, "/me/not-me"),
        "lead": offered_lead(session, first_name="Paul"),
    }
    people = {
        "owner": person(agency_id, role="owner", name="Odile Owner"),
        "pending": person(agency_id, name="Bruno Buyer"),
        "finance": staff(),
        "admin": staff(role="admin"),
    }
    with http_browser(clean_db) as web:  # the buyer sets up an app: a code is asked next time
        sign_in(web, people["pending"])
        enrol(web)
    invite(Principal(None, "admin", None), agency_id, "nadia@centre.example", "Nadia", "buyer")
    request_reset(people["owner"], None)
    seeds["invite"] = mailed_token(session, "person.invitation", "/pro/welcome")
    seeds["reset"] = mailed_token(session, "person.password_reset", "/pro/reset")
    seeds["application"] = submit(
        Application(
            name="Agence des Lices",
            siret="732 829 320 00074",
            card_number="CPI 3501 2024 000 012 345",
            street="12 place des Lices",
            postal_code="35000",
            city="Rennes",
            contact_name="Nadia Roux",
            contact_email="nadia@lices.example",
            contact_phone="02 99 00 00 00",
        )
    )
    return seeds, people


def mailed_token(session: Any, event: str, path: str) -> str:
    """The token of the link the e-mail of this kind carries (the only one sent)."""
    body = session.execute(
        text("SELECT payload->>'text' FROM outbox WHERE event = :event"), {"event": event}
    ).scalar_one()
    found = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_-]+)", body)
    assert found, body
    return found.group(1)


def sign_in_as(page: Any, site: str, email: str | None) -> list[Any]:
    """Signs the page's context in as `email` (no one: signed out); its cookies, for another
    context to be the same person."""
    page.context.clear_cookies()
    if email is not None:
        page.goto(f"{site}/pro/login")
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
    return list(page.context.cookies())


def problems_of(page: Any, site: str, target: Page, seeds: dict[str, Any], lang: str) -> list:
    address = target.address(seeds)
    answer = page.goto(f"{site}{address}{'&' if '?' in address else '?'}lang={lang}")
    page.wait_for_load_state("load")
    found: list[Any] = []
    if answer is None or answer.status != 200:
        found.append(f"answered {answer.status if answer else None}")
    if page.evaluate("() => document.documentElement.lang") != lang:
        found.append(f"not in {lang}")
    width = page.viewport_size["width"]
    if width == PHONE["width"] and not no_sideways_scroll(page):
        found.append("scrolls sideways")
    found += serious_accessibility_violations(page)
    page.screenshot(path=str(SHOTS / f"{target.name}-{width}.png"), full_page=True)
    return found


def test_every_page_at_1280_and_360_px(browser, pro_site, client, session, clean_db) -> None:
    seeds, people = seeded(client, session, clean_db)
    SHOTS.mkdir(parents=True, exist_ok=True)
    desk = browser.new_context(viewport=DESKTOP).new_page()
    phone = browser.new_context(viewport=PHONE).new_page()
    problems: dict[str, list[Any]] = {}
    for who in ("anyone", "pending", "owner", "finance", "admin"):
        cookies = sign_in_as(desk, pro_site, people.get(who))  # once, then the phone is them too
        phone.context.clear_cookies()
        phone.context.add_cookies(cookies)
        for target in (p for p in PAGES if p.who == who):
            for page, lang in ((desk, "fr"), (phone, "en")):
                found = problems_of(page, pro_site, target, seeds, lang)
                if found:
                    problems[f"{target.name}-{page.viewport_size['width']}"] = found
    desk.context.close()
    phone.context.close()
    assert problems == {}
