"""Espace Pro's second factor: a TOTP app with recovery codes, a code never accepted twice, the
session token rotated at step-up, and agencies that require it."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pyotp
import pytest
from sqlalchemy import text

from tests.e2e.test_pro_sign_in import COOKIE, browser
from tests.helpers import add_agency
from tests.pro import form_token, person, sign_in


@pytest.fixture
def agency(session) -> uuid.UUID:  # type: ignore[no-untyped-def]
    agency_id = add_agency(session, -1.68, 48.11, name="Agence du Centre")
    session.commit()
    return agency_id


def enrol(web: Any) -> tuple[str, list[str]]:
    """Sets up the app from the security page; (the secret, the recovery codes)."""
    page = web.get("/pro/account/security")
    started = web.post("/pro/account/security/totp/start", data={"csrf": form_token(page.text)})
    assert started.status_code == 200
    assert "data:image/svg+xml" in started.text  # the QR code
    secret = re.search(r"<code>([A-Z2-7]{32})</code>", started.text).group(1)  # type: ignore[union-attr]
    wrong = web.post(
        "/pro/account/security/totp/confirm",
        data={"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111",
              "csrf": form_token(started.text)},
    )  # fmt: skip
    assert wrong.status_code == 422
    done = web.post(
        "/pro/account/security/totp/confirm",
        data={"code": pyotp.TOTP(secret).now(), "csrf": form_token(started.text)},
    )
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", done.text)
    return secret, codes


def next_code(secret: str) -> str:
    """The code of the next 30-second step (accepted: one step of drift either way)."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def give_code(web: Any, code: str) -> Any:
    page = web.get("/pro/login/code")
    return web.post(
        "/pro/login/code", data={"code": code, "csrf": form_token(page.text)},
        follow_redirects=False,
    )  # fmt: skip


@pytest.fixture
def enrolled(clean_db, agency) -> tuple[str, str, list[str]]:  # type: ignore[no-untyped-def]
    email = person(agency)
    with browser(clean_db) as web:
        sign_in(web, email)
        secret, codes = enrol(web)
    return email, secret, codes


def test_a_person_sets_up_an_app_and_signs_in_with_a_code(enrolled) -> None:
    email, secret, codes = enrolled
    assert len(codes) == 10
    with browser("") as web:
        answer = sign_in(web, email)
        assert answer.headers["location"].startswith("/pro/login/code")
        pending = web.cookies.get(COOKIE)
        # The password alone opens nothing.
        assert web.get("/pro/leads", follow_redirects=False).status_code == 303

        done = give_code(web, next_code(secret))

        assert done.status_code == 303
        assert web.cookies.get(COOKIE) != pending  # a new token at step-up
        assert web.get("/pro/leads").status_code == 200
    with browser("") as thief:
        thief.cookies.set(COOKIE, pending, domain="mandat.test")
        assert thief.get("/pro/leads", follow_redirects=False).status_code == 303


def test_a_code_is_never_accepted_twice(enrolled) -> None:
    email, secret, _ = enrolled
    code = next_code(secret)
    with browser("") as first:
        sign_in(first, email)
        assert give_code(first, code).status_code == 303
    with browser("") as replay:
        sign_in(replay, email)
        refused = give_code(replay, code)
        assert refused.status_code == 422
        assert "déjà servi" in refused.text
        assert replay.get("/pro/leads", follow_redirects=False).status_code == 303


def test_a_recovery_code_replaces_the_app_once(enrolled) -> None:
    email, _, codes = enrolled
    with browser("") as web:
        sign_in(web, email)
        assert give_code(web, codes[3].upper()).status_code == 303
    with browser("") as again:
        sign_in(again, email)
        assert give_code(again, codes[3]).status_code == 422


def test_wrong_codes_are_throttled(enrolled) -> None:
    email, secret, _ = enrolled
    with browser("") as web:
        sign_in(web, email)
        for _ in range(5):
            assert give_code(web, "12345-67890").status_code == 422
        refused = give_code(web, next_code(secret))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0


def test_turning_the_app_off_takes_a_current_code(enrolled, session) -> None:
    email, secret, _ = enrolled
    with browser("") as web:
        sign_in(web, email)
        give_code(web, next_code(secret))
        page = web.get("/pro/account/security")
        assert "10 codes de secours restants" in page.text
        refused = web.post(
            "/pro/account/security/totp/off", data={"code": "000000", "csrf": form_token(page.text)}
        )
        assert refused.status_code == 422
        assert session.execute(text("SELECT count(*) FROM person_totp")).scalar_one() == 1


def test_an_agency_that_requires_it_sends_people_without_it_to_set_it_up(
    clean_db, session, agency
) -> None:
    owner, buyer = person(agency, role="owner"), person(agency)
    with browser(clean_db) as boss:
        sign_in(boss, owner)
        page = boss.get("/pro/account/security")
        boss.post(
            "/pro/account/security/policy", data={"required": "yes", "csrf": form_token(page.text)}
        )
        # The owner has none yet either: the security page first.
        assert boss.get("/pro/leads", follow_redirects=False).headers["location"] == (
            "/pro/account/security"
        )
    with browser(clean_db) as web:
        sign_in(web, buyer)
        inbox = web.get("/pro/leads")
        assert inbox.url.path == "/pro/account/security"
        assert "exige la connexion en deux étapes" in inbox.text
        enrol(web)
        assert web.get("/pro/leads", follow_redirects=False).status_code == 200
    audit = session.execute(text("SELECT action FROM audit_log ORDER BY id")).scalars().all()
    assert "agency.second_factor_policy" in audit
    assert "person.second_factor_on" in audit


def test_a_buyer_cannot_set_the_agencys_rule(clean_db, session, agency) -> None:
    with browser(clean_db) as web:
        sign_in(web, person(agency, role="buyer"))
        page = web.get("/pro/account/security")
        assert "Pour toute l'agence" not in page.text
        answer = web.post(
            "/pro/account/security/policy", data={"required": "yes", "csrf": form_token(page.text)}
        )
        assert answer.status_code == 403
    assert not session.execute(text("SELECT require_second_factor FROM agency")).scalar_one()
