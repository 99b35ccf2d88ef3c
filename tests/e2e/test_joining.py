"""Joining Mandat (issue 13 item 6): an agency applies by itself on a public page; an admin
approves it on the staff pages, which creates the agency and invites the applicant as owner, or
refuses it with a reason the applicant receives."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.e2e.test_pro_sign_in import browser
from tests.e2e.test_pro_team import delivered, text_of
from tests.pro import form_token, sign_in, staff

SIRET = "732 829 320 00074"  # a valid SIRET, typed with spaces
APPLICATION = {
    "name": "Agence des Lices",
    "siret": SIRET,
    "card_number": "CPI 3501 2024 000 012 345",
    "street": "12 place des Lices",
    "postal_code": "35000",
    "city": "Rennes",
    "contact_name": "Nadia Roux",
    "contact_email": "nadia@lices.example",
    "contact_phone": "02 99 00 00 00",
}


@pytest.fixture
def web(clean_db: str) -> Iterator[Any]:
    with browser(clean_db) as client:
        yield client


def apply(web: Any, **changes: str) -> Any:
    page = web.get("/pro/join/")
    return web.post("/pro/join/", data={**APPLICATION, **changes, "csrf": form_token(page.text)})


def test_an_agency_applies_and_is_told_what_happens_next(web, session, mailbox) -> None:
    answer = apply(web)

    assert answer.status_code == 200
    assert 'id="sent"' in answer.text
    row = session.execute(text("SELECT siret, card_number, status FROM agency_application")).one()
    assert tuple(row) == ("73282932000074", "CPI35012024000012345", "pending")
    assert "deux jours ouvrés" in text_of(delivered(mailbox, "nadia@lices.example"))


def test_a_wrong_field_is_answered_next_to_it_and_nothing_is_kept(web, session) -> None:
    answer = apply(web, siret="123", card_number="T 123", contact_email="nadia")

    assert answer.status_code == 422
    for field in ("siret", "card_number", "contact_email"):
        assert f'id="{field}-error"' in answer.text
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', answer.text, re.S)
    assert 'value="Agence des Lices"' in answer.text  # what was typed stays
    assert session.execute(text("SELECT count(*) FROM agency_application")).scalar_one() == 0


def test_one_open_application_per_siret(web, session) -> None:
    assert apply(web).status_code == 200
    again = apply(web)
    assert again.status_code == 409
    assert 'id="conflict"' in again.text


def test_an_admin_approves_and_the_applicant_becomes_the_owner(web, session, mailbox) -> None:
    apply(web)
    sign_in(web, staff(role="admin"), next="/staff/applications")
    queue = web.get("/staff/applications")
    assert "Agence des Lices" in queue.text
    application_id = session.execute(text("SELECT id FROM agency_application")).scalar_one()
    detail = web.get(f"/staff/applications/{application_id}")

    approved = web.post(
        f"/staff/applications/{application_id}/approve",
        data={"csrf": form_token(detail.text)},
        follow_redirects=False,
    )

    assert approved.status_code == 303
    agency = session.execute(
        text("SELECT id, name, registered_city, status FROM agency WHERE siret = '73282932000074'")
    ).one()
    assert (agency.name, agency.registered_city) == ("Agence des Lices", "Rennes")
    owner = session.execute(
        text("SELECT role, password_hash FROM agency_user WHERE agency_id = :a"), {"a": agency.id}
    ).one()
    assert owner.role == "owner"
    assert owner.password_hash is None  # until the applicant follows the link
    assert "/pro/welcome?token=" in text_of(delivered(mailbox, "nadia@lices.example"))
    assert session.execute(text("SELECT status FROM agency_application")).scalar_one() == (
        "approved"
    )
    twice = web.post(
        f"/staff/applications/{application_id}/approve", data={"csrf": form_token(detail.text)}
    )
    assert twice.status_code == 409


def test_an_admin_refuses_with_a_reason_the_applicant_reads(web, session, mailbox) -> None:
    apply(web)
    sign_in(web, staff(role="admin"))
    application_id = session.execute(text("SELECT id FROM agency_application")).scalar_one()
    detail = web.get(f"/staff/applications/{application_id}")
    csrf = form_token(detail.text)

    empty = web.post(f"/staff/applications/{application_id}/refuse", data={"csrf": csrf})
    assert empty.status_code == 422
    refused = web.post(
        f"/staff/applications/{application_id}/refuse",
        data={"csrf": csrf, "reason": "Carte professionnelle expirée."},
        follow_redirects=False,
    )

    assert refused.status_code == 303
    assert session.execute(text("SELECT count(*) FROM agency")).scalar_one() == 0
    assert "Carte professionnelle expirée." in text_of(delivered(mailbox, "nadia@lices.example"))


def test_only_admins_decide(web, session) -> None:
    apply(web)
    sign_in(web, staff(role="finance"))
    application_id = session.execute(text("SELECT id FROM agency_application")).scalar_one()
    assert web.get(f"/staff/applications/{application_id}").status_code == 404
    forged = web.post(f"/staff/applications/{application_id}/approve", data={"csrf": "x"})
    assert forged.status_code in (403, 404)
    assert session.execute(text("SELECT status FROM agency_application")).scalar_one() == (
        "pending"
    )


def test_two_admins_approving_at_once_create_one_agency(web, session) -> None:
    """Both click "approve" at the same moment: the application row is locked, so one creates
    the agency and invites its owner, the other is told it was decided."""
    from concurrent.futures import ThreadPoolExecutor

    from engine.accounts.keys import Principal
    from engine.agencies.decisions import approve
    from engine.errors import Conflict

    apply(web)
    application_id = session.execute(text("SELECT id FROM agency_application")).scalar_one()
    session.commit()
    admins = [Principal(None, "admin", None) for _ in range(2)]

    def decide(admin: Principal) -> str:
        try:
            approve(admin, application_id)
            return "approved"
        except Conflict as refused:
            return refused.code

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(decide, admins))

    assert outcomes == ["application_decided", "approved"]
    assert session.execute(text("SELECT count(*) FROM agency")).scalar_one() == 1
    assert session.execute(text("SELECT count(*) FROM agency_user")).scalar_one() == 1
