"""Espace Pro's people: an owner invites a collaborator by e-mail (read from a real SMTP server),
a forgotten password is reset by a single-use link, and a removed person is out at once."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from engine.notify.deliver import deliver_due
from tests.e2e.test_pro_sign_in import browser
from tests.helpers import add_agency
from tests.pro import PASSWORD, form_token, person, sign_in
from tests.processes import Mailbox

NEW_PASSWORD = "une phrase que je retiens bien"


@pytest.fixture
def owner(clean_db, session) -> Iterator[tuple[Any, uuid.UUID]]:  # type: ignore[no-untyped-def]
    agency = add_agency(session, -1.68, 48.11, name="Agence du Centre")
    session.commit()
    with browser(clean_db) as web:
        sign_in(web, person(agency, role="owner", name="Odile Owner"))
        yield web, agency


def delivered(mailbox: Mailbox, to: str) -> Any:
    """Delivers the outbox to the SMTP server; the last message it received for `to`."""
    deliver_due(datetime.now(UTC))
    mails = [m for m in mailbox.messages if m["To"] == to]
    assert mails, f"no e-mail to {to}"
    return mails[-1]


def text_of(mail: Any) -> str:
    """The plain-text body a person reads (the e-mail also carries the same words as HTML)."""
    return mail.get_body(("plain",)).get_content()


def link_in(mail: Any) -> str:
    found = re.search(r"https?://[^/\s]+(/pro/\S+)", text_of(mail))
    assert found, text_of(mail)
    return found.group(1)


def invite(web: Any, email: str, role: str = "buyer", name: str = "Bruno Buyer") -> Any:
    page = web.get("/pro/team")
    data = {"email": email, "name": name, "role": role, "csrf": form_token(page.text)}
    return web.post("/pro/team/invite", data=data)


def test_an_owner_invites_a_buyer_who_sets_a_password_and_signs_in(owner, mailbox, session) -> None:
    web, _ = owner

    answer = invite(web, "bruno@agence.example")

    assert answer.status_code == 200
    assert "L'invitation est envoyée" in answer.text
    assert "invité" in answer.text
    mail = delivered(mailbox, "bruno@agence.example")
    assert "Agence du Centre" in mail["Subject"]
    link = link_in(mail)
    with browser("") as newcomer:
        welcome = newcomer.get(link)
        assert welcome.status_code == 200
        assert "Bienvenue, Bruno Buyer" in welcome.text
        data = {"token": link.split("token=")[1], "csrf": form_token(welcome.text)}
        short = newcomer.post(
            "/pro/welcome", data={**data, "password": "court", "confirm": "court"}
        )
        assert short.status_code == 422
        assert "12 caractères" in short.text
        done = newcomer.post(
            "/pro/welcome", data={**data, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        )
        assert done.status_code == 200  # signed in, on the inbox
        assert "Leads proposés" in done.text
        assert newcomer.get(link).status_code == 410  # the link is used up
    assert sign_in(browser(""), "bruno@agence.example", NEW_PASSWORD).status_code == 303
    team = web.get("/pro/team").text
    assert "Bruno Buyer" in team
    assert "actif" in team
    audit = session.execute(
        text("SELECT action, actor_role, actor_user_id IS NOT NULL FROM audit_log")
    ).all()
    assert ("person.invited", "owner", True) in audit


def test_a_buyer_can_neither_invite_nor_remove(clean_db, session, mailbox) -> None:
    agency = add_agency(session, -1.68, 48.11)
    session.commit()
    colleague = person(agency, role="viewer")
    with browser(clean_db) as web:
        sign_in(web, person(agency, role="buyer"))
        page = web.get("/pro/team")
        assert "Inviter un collaborateur" not in page.text
        forged = web.post(
            "/pro/team/invite",
            data={
                "email": "x@agence.example",
                "name": "X",
                "role": "owner",
                "csrf": form_token(page.text),
            },
        )
        assert forged.status_code == 403
        victim = session.execute(
            text("SELECT id FROM agency_user WHERE email = :e"), {"e": colleague}
        ).scalar_one()
        removed = web.post(f"/pro/team/{victim}/disable", data={"csrf": form_token(page.text)})
        assert removed.status_code == 403
    assert session.execute(text("SELECT count(*) FROM agency_user")).scalar_one() == 2
    assert (
        session.execute(
            text("SELECT count(*) FROM agency_user WHERE disabled_at IS NOT NULL")
        ).scalar_one()
        == 0
    )


def test_an_owner_cannot_remove_a_person_of_another_agency(owner, session) -> None:
    web, _ = owner
    elsewhere = add_agency(session, 5.37, 43.30)
    session.commit()
    stranger = person(elsewhere)
    stranger_id = session.execute(
        text("SELECT id FROM agency_user WHERE email = :e"), {"e": stranger}
    ).scalar_one()
    page = web.get("/pro/team")

    answer = web.post(f"/pro/team/{stranger_id}/disable", data={"csrf": form_token(page.text)})

    assert answer.status_code == 404
    assert stranger not in page.text
    assert sign_in(browser(""), stranger).status_code == 303


def test_a_removed_person_is_signed_out_at_once(owner, session) -> None:
    web, agency = owner
    email = person(agency, name="Paul Partant")
    with browser("") as leaving:
        sign_in(leaving, email)
        assert leaving.get("/pro/leads", follow_redirects=False).status_code == 200
        leaving_id = session.execute(
            text("SELECT id FROM agency_user WHERE email = :e"), {"e": email}
        ).scalar_one()
        page = web.get("/pro/team")

        answer = web.post(f"/pro/team/{leaving_id}/disable", data={"csrf": form_token(page.text)})

        assert "retirée et déconnectée" in answer.text
        assert leaving.get("/pro/leads", follow_redirects=False).status_code == 303
    assert sign_in(browser(""), email).status_code == 401


def test_a_forgotten_password_is_reset_by_a_single_use_link(clean_db, session, mailbox) -> None:
    agency = add_agency(session, -1.68, 48.11)
    session.commit()
    email = person(agency)
    with browser(clean_db) as elsewhere, browser(clean_db) as web:
        sign_in(elsewhere, email)  # signed in on another computer
        page = web.get("/pro/forgot")
        known = web.post("/pro/forgot", data={"email": email, "csrf": form_token(page.text)})
        unknown = web.post(
            "/pro/forgot", data={"email": "nobody@agence.example", "csrf": form_token(page.text)}
        )
        assert known.status_code == unknown.status_code == 200
        assert known.text.replace(email, "") == unknown.text.replace("nobody@agence.example", "")
        link = link_in(delivered(mailbox, email))
        assert not [m for m in mailbox.messages if m["To"] == "nobody@agence.example"]

        form = web.get(link)
        data = {"token": link.split("token=")[1], "csrf": form_token(form.text)}
        differ = web.post("/pro/reset", data={**data, "password": NEW_PASSWORD, "confirm": "x"})
        assert differ.status_code == 422
        assert "diffèrent" in differ.text
        done = web.post(
            "/pro/reset", data={**data, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        )
        assert "Votre mot de passe a été changé" in done.text
        assert web.get(link).status_code == 410
        assert elsewhere.get("/pro/leads", follow_redirects=False).status_code == 303
    assert sign_in(browser(""), email, PASSWORD).status_code == 401
    assert sign_in(browser(""), email, NEW_PASSWORD).status_code == 303


def test_a_reset_link_is_dead_after_30_minutes_and_is_no_invitation(
    clean_db, session, mailbox
) -> None:
    agency = add_agency(session, -1.68, 48.11)
    session.commit()
    email = person(agency)
    with browser(clean_db) as web:
        page = web.get("/pro/forgot")
        web.post("/pro/forgot", data={"email": email, "csrf": form_token(page.text)})
        link = link_in(delivered(mailbox, email))
        token = link.split("token=")[1]
        assert web.get(f"/pro/welcome?token={token}").status_code == 410  # another purpose
        session.execute(
            text("UPDATE person_token SET created_at = created_at - interval '31 minutes', "
                 "expires_at = expires_at - interval '31 minutes'")
        )  # fmt: skip
        session.commit()
        assert web.get(link).status_code == 410


def test_an_admin_or_the_agencys_owner_key_invites_over_the_api(client, session, mailbox) -> None:
    from tests.conftest import issue_key
    from tests.market import buyers

    (owner,) = buyers(session, 1, role="owner", name="Agence du Centre")
    admin = {"Authorization": f"Bearer {issue_key('admin')}"}
    buyer = {"Authorization": f"Bearer {issue_key('buyer', owner.agency_id)}"}
    url = f"/api/v1/agencies/{owner.agency_id}/invitations"
    body = {"email": "odile@agence.example", "name": "Odile", "role": "owner"}

    by_admin = client.post(url, json=body, headers=admin)
    by_owner = client.post(
        url, json={**body, "email": "bruno@agence.example"}, headers=owner.headers
    )
    by_buyer = client.post(url, json={**body, "email": "x@agence.example"}, headers=buyer)
    again = client.post(url, json=body, headers=owner.headers)

    assert by_admin.status_code == by_owner.status_code == 201
    assert by_admin.json()["status"] == "invited"
    assert by_buyer.status_code == 403
    assert again.status_code == 409
    assert again.json()["code"] == "email_taken"
    link = link_in(delivered(mailbox, "bruno@agence.example"))
    with browser("") as newcomer:
        welcome = newcomer.get(link)
        assert "Agence du Centre" in welcome.text
    invited = session.execute(
        text("SELECT email, role, password_hash IS NULL FROM agency_user ORDER BY email")
    ).all()
    assert [tuple(r) for r in invited] == [
        ("bruno@agence.example", "owner", True),
        ("odile@agence.example", "owner", True),
    ]
