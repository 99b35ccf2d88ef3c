"""Espace Pro: signing in and out, server-side sessions, CSRF and throttling, over HTTP."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from api.app import create_app
from tests.helpers import add_agency
from tests.market import buyers, offered_lead
from tests.pro import PASSWORD, form_token, person, sign_in

COOKIE = "__Host-mandat_pro"


def browser(clean_db: str) -> TestClient:  # type: ignore[type-arg]
    # HTTPS, as in production: the session cookie is Secure and __Host- prefixed.
    return TestClient(create_app(), base_url="https://mandat.test", raise_server_exceptions=False)


@pytest.fixture
def web(clean_db: str) -> Iterator[Any]:
    with browser(clean_db) as client:
        yield client


@pytest.fixture
def agency(session) -> uuid.UUID:  # type: ignore[no-untyped-def]
    agency_id = add_agency(session, -1.68, 48.11, name="Agence du Centre")
    session.commit()
    return agency_id


def test_a_person_signs_in_and_gets_a_secure_session_cookie(web, agency) -> None:
    email = person(agency)

    answer = sign_in(web, email.upper())  # the address in any case

    assert answer.status_code == 303
    assert answer.headers["location"] == "/pro/"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for attribute in ("HttpOnly", "Secure", "Path=/", "SameSite=lax"):
        assert attribute.lower() in cookie.lower()
    assert "domain" not in cookie.lower()
    inbox = web.get("/pro/leads")
    assert inbox.status_code == 200
    assert "Agence du Centre" in inbox.text
    assert inbox.headers["cache-control"] == "no-store"


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(web, agency) -> None:
    email = person(agency)

    wrong = sign_in(web, email, "not the password at all")
    unknown = sign_in(web, "nobody@agence.example", "not the password at all")

    assert wrong.status_code == unknown.status_code == 401
    assert "incorrect" in wrong.text
    assert wrong.text.replace(email, "").count("login-error") == unknown.text.count("login-error")
    assert COOKIE not in wrong.headers.get("set-cookie", "")
    assert web.get("/pro/leads", follow_redirects=False).status_code == 303


def test_the_session_token_changes_at_sign_in(web, agency) -> None:
    """Fixation: a token held before signing in never becomes a signed-in session."""
    email = person(agency)
    planted = "planted-token-from-an-attacker-0123456789"
    web.cookies.set(COOKIE, planted, domain="mandat.test")

    sign_in(web, email)

    assert web.cookies.get(COOKIE) != planted
    with browser("") as attacker:
        attacker.cookies.set(COOKIE, planted, domain="mandat.test")
        assert attacker.get("/pro/leads", follow_redirects=False).status_code == 303


def test_a_signed_out_token_is_refused_by_the_server(web, agency) -> None:
    sign_in(web, person(agency))
    stolen = web.cookies.get(COOKIE)
    inbox = web.get("/pro/leads")

    out = web.post("/pro/logout", data={"csrf": form_token(inbox.text)}, follow_redirects=False)

    assert out.status_code == 303
    with browser("") as thief:
        thief.cookies.set(COOKIE, stolen, domain="mandat.test")
        answer = thief.get("/pro/leads", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/pro/login")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("last_seen_at", "clock_timestamp() - interval '31 minutes'"),  # idle
        # 12 hours after sign-in, however busy
        ("created_at", "now() - interval '13 hours', expires_at = now() - interval '1 hour'"),
    ],
)
def test_an_idle_or_too_old_session_is_over(web, session, agency, column, value) -> None:
    sign_in(web, person(agency))
    session.execute(text(f"UPDATE web_session SET {column} = {value}"))
    session.commit()

    assert web.get("/pro/leads", follow_redirects=False).status_code == 303


def test_an_offboarded_person_is_signed_out_at_once(web, session, agency) -> None:
    email = person(agency)
    sign_in(web, email)
    session.execute(text("UPDATE agency_user SET disabled_at = now()"))
    session.commit()

    assert web.get("/pro/leads", follow_redirects=False).status_code == 303
    assert sign_in(web, email).status_code == 401


def test_every_post_page_refuses_a_missing_or_forged_csrf_token(web, session, agency) -> None:
    """Walks the application's routes: a new form without the check fails here."""
    sign_in(web, person(agency))
    session_id = session.execute(text("SELECT id FROM web_session")).scalar_one()
    posts = sorted(
        route.path
        for route in create_app().routes
        if route.path.startswith("/pro/") and "POST" in getattr(route, "methods", ())
    )
    assert {
        "/pro/logout",
        "/pro/login",
        "/pro/account/sessions/{session_id:uuid}/revoke",
        "/pro/team/invite",
        "/pro/team/{person_id:uuid}/disable",
        "/pro/welcome",
        "/pro/forgot",
        "/pro/reset",
        "/pro/login/code",
        "/pro/login/passkey",
        "/pro/login/passkey/options",
        "/pro/account/security/passkeys",
        "/pro/account/security/passkeys/options",
        "/pro/account/security/totp/start",
        "/pro/account/security/policy",
    } <= set(posts)

    for path in posts:
        url = re.sub(r"\{\w+:uuid\}", str(session_id), path)
        for data in ({}, {"csrf": "forged"}, {"csrf": "é"}):  # F17: non-ASCII, never a 500
            answer = web.post(url, data={**data, "email": "x@y.fr", "password": PASSWORD})
            assert answer.status_code == 403, (path, data, answer.status_code)
    # Nothing happened: the session is still open and the person still signed in.
    assert (
        session.execute(
            text("SELECT count(*) FROM web_session WHERE revoked_at IS NULL")
        ).scalar_one()
        == 1
    )
    assert web.get("/pro/leads", follow_redirects=False).status_code == 200


def test_failed_sign_ins_are_throttled_per_account_before_any_hash(web, agency) -> None:
    email = person(agency)
    for _ in range(5):
        assert sign_in(web, email, "wrong password, again").status_code == 401

    refused = sign_in(web, email)  # even the right password, until the bucket refills

    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "Trop de tentatives" in refused.text
    other = person(agency)
    assert sign_in(web, other).status_code == 303  # another account is not held up


def test_a_person_sees_their_sessions_and_ends_another_one(web, session, agency) -> None:
    email = person(agency)
    with browser("") as phone:
        sign_in(phone, email)
        sign_in(web, email)
        page = web.get("/pro/account/sessions")
        assert page.status_code == 200
        assert page.text.count("/revoke") == 2
        assert page.text.count("ce navigateur") == 1
        phone_session = session.execute(
            text("SELECT id FROM web_session ORDER BY created_at LIMIT 1")
        ).scalar_one()

        ended = web.post(
            f"/pro/account/sessions/{phone_session}/revoke",
            data={"csrf": form_token(page.text)},
        )

        assert ended.status_code == 200, (ended.url, ended.text[:300])
        assert "La session a été terminée" in ended.text
        assert ended.text.count("/revoke") == 1
        assert phone.get("/pro/leads", follow_redirects=False).status_code == 303
        assert web.get("/pro/leads", follow_redirects=False).status_code == 200


def test_the_inbox_shows_only_this_agencys_offers_and_no_contact(web, session) -> None:
    mine, theirs = buyers(session, 2)
    lead = offered_lead(session, consent_to=[mine])
    only_theirs = offered_lead(session, consent_to=[theirs])
    contact = session.execute(
        text("SELECT last_name, email, phone_e164 FROM lead WHERE id = :id"), {"id": lead}
    ).one()
    sign_in(web, person(mine.agency_id))

    inbox = web.get("/pro/leads").text

    assert inbox.count('class="offer"') == 1
    assert "Rennes (35000)" in inbox
    assert "HT" in inbox
    for secret in contact:
        assert secret not in inbox
    assert str(only_theirs) not in inbox


def test_an_empty_inbox_says_why(web, agency) -> None:
    sign_in(web, person(agency))

    inbox = web.get("/pro/leads")

    assert "Aucun lead n'est proposé" in inbox.text
    english = web.get("/pro/leads?lang=en")
    assert "No lead is on offer to your agency right now." in english.text
    assert web.get("/pro/leads").text.count("No lead is on offer") == 1  # the choice is kept
