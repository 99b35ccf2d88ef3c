"""Espace Pro: an owner manages the agency's API keys from the web (issue 13 item 1)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.e2e.test_pro_sign_in import browser
from tests.helpers import add_agency
from tests.pro import form_token, person, sign_in


@pytest.fixture
def agency(session) -> uuid.UUID:  # type: ignore[no-untyped-def]
    agency_id = add_agency(session, -1.68, 48.11, name="Agence du Centre")
    session.commit()
    return agency_id


@pytest.fixture
def owner(clean_db: str, agency: uuid.UUID) -> Iterator[Any]:
    with browser(clean_db) as web:
        sign_in(web, person(agency, role="owner"))
        yield web


def test_an_owner_makes_a_key_sees_it_once_and_it_works(owner, client, session) -> None:
    page = owner.get("/pro/team/keys")
    assert page.status_code == 200
    assert 'id="no-keys"' in page.text

    made = owner.post(
        "/pro/team/keys/", data={"label": "CRM", "role": "viewer", "csrf": form_token(page.text)}
    )

    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    key = re.search(r'<code id="new-key">([^<]+)</code>', made.text)[1]  # type: ignore[index]
    catalogue = client.get("/api/v1/leads", headers={"Authorization": f"Bearer {key}"})
    assert catalogue.status_code == 200
    assert key not in owner.get("/pro/team/keys").text  # shown once
    row = session.execute(text("SELECT role, label FROM api_key")).one()
    assert tuple(row) == ("viewer", "CRM")


def test_a_revoked_key_is_refused_at_its_next_request(owner, client, session) -> None:
    page = owner.get("/pro/team/keys")
    made = owner.post(
        "/pro/team/keys/", data={"label": "Site", "role": "buyer", "csrf": form_token(page.text)}
    )
    key = re.search(r'<code id="new-key">([^<]+)</code>', made.text)[1]  # type: ignore[index]
    key_id = session.execute(text("SELECT id FROM api_key")).scalar_one()

    revoked = owner.post(
        f"/pro/team/keys/{key_id}/revoke",
        data={"csrf": form_token(made.text)},
        follow_redirects=False,
    )

    assert revoked.headers["location"] == "/pro/team/keys?done=revoked"
    assert (
        client.get("/api/v1/leads", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    )


def test_a_buyer_has_no_keys_page_and_a_forged_form_changes_nothing(
    clean_db, agency, owner, session
) -> None:
    with browser(clean_db) as web:
        sign_in(web, person(agency, role="buyer"))
        assert web.get("/pro/team/keys").status_code == 404
        refused = web.post(
            "/pro/team/keys/",
            data={"label": "x", "role": "owner", "csrf": form_token(web.get("/pro/").text)},
        )
        assert refused.status_code == 404
    forged = owner.post("/pro/team/keys/", data={"label": "x", "role": "owner", "csrf": "forged"})
    assert forged.status_code == 403
    assert session.execute(text("SELECT count(*) FROM api_key")).scalar_one() == 0


def test_another_agencys_key_cannot_be_revoked(owner, session, admin_headers, client) -> None:
    other = add_agency(session, -1.70, 48.12, name="Agence Voisine")
    session.commit()
    issued = client.post(
        f"/api/v1/agencies/{other}/api-keys", json={"role": "buyer", "label": "theirs"},
        headers=admin_headers,
    ).json()  # fmt: skip
    page = owner.get("/pro/team/keys")
    answer = owner.post(
        f"/pro/team/keys/{issued['id']}/revoke", data={"csrf": form_token(page.text)}
    )
    assert answer.status_code == 404
    revoked = session.execute(
        text("SELECT revoked_at FROM api_key WHERE id = :k"), {"k": issued["id"]}
    ).scalar_one()
    assert revoked is None


def test_a_key_made_to_expire_says_until_when_and_an_unknown_lifetime_is_refused(
    owner, client, session
) -> None:
    page = owner.get("/pro/team/keys")
    made = owner.post(
        "/pro/team/keys/",
        data={"label": "Site", "role": "viewer", "expires_in_days": "30",
              "csrf": form_token(page.text)},
    )  # fmt: skip
    assert made.status_code == 201
    assert "It stops working on" in made.text or "Elle cessera de fonctionner le" in made.text
    days = session.execute(
        text("SELECT round(extract(epoch FROM expires_at - created_at) / 86400) FROM api_key")
    ).scalar_one()
    assert days == 30
    listed = owner.get("/pro/team/keys").text
    row = re.search(r"<tr>\s*<td[^>]*>Site</td>.*?</tr>", listed, re.S)[0]  # type: ignore[index]
    assert re.search(r"(active until|active jusqu’au) ", row)
    assert re.search(r">(never|jamais)<", row)  # not used yet

    refused = owner.post(
        "/pro/team/keys/",
        data={"label": "CRM", "role": "viewer", "expires_in_days": "9999",
              "csrf": form_token(listed)},
    )  # fmt: skip
    assert refused.status_code == 422
    assert 'id="key-expires-error"' in refused.text
    assert session.execute(text("SELECT count(*) FROM api_key")).scalar_one() == 1
