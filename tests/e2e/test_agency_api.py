"""Creating an agency and managing its zone over HTTP, as an admin and as the agency."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import issue_key

PARIS_13 = {"postal_code": "75013", "city": "Paris"}


def new_agency(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Agence du Marais",
        "siret": "73282932000074",
        "email": "contact@marais.fr",
        "office": PARIS_13,
    }
    return {**body, **overrides}


def test_an_admin_creates_an_agency_whose_zone_is_twenty_km_around_its_office(
    client, admin_headers
) -> None:
    response = client.post("/api/v1/agencies", json=new_agency(), headers=admin_headers)

    assert response.status_code == 201
    agency = response.json()
    assert agency["office"]["commune_code"] == "75113"
    assert agency["zone"]["radius_km"] == 20
    assert agency["zone"]["center"] == {
        "lat": agency["office"]["lat"],
        "lon": agency["office"]["lon"],
    }


def test_an_owner_moves_and_widens_the_zone_and_matching_follows(client, admin_headers) -> None:
    agency = client.post(
        "/api/v1/agencies",
        json=new_agency(radius_km=5, accepts_extended_leads=False),
        headers=admin_headers,
    ).json()
    owner = {"Authorization": f"Bearer {issue_key('owner', agency['id'])}"}
    # Versailles town hall is ~17 km from the 13th arrondissement's: outside a 5 km zone.
    query = "/api/v1/admin/matching?postal_code=78000&city=Versailles"
    assert client.get(query, headers=admin_headers).json()["agencies"] == []

    changed = client.patch("/api/v1/agency", json={"radius_km": 25}, headers=owner)

    assert changed.status_code == 200
    assert changed.json()["zone"]["radius_km"] == 25
    found = client.get(query, headers=admin_headers).json()["agencies"]
    assert [(a["id"], a["reach"]) for a in found] == [(agency["id"], "zone")]
    assert 15 < found[0]["distance_km"] < 20


def test_a_paused_agency_is_offered_nothing_until_it_resumes(client, admin_headers) -> None:
    agency = client.post("/api/v1/agencies", json=new_agency(), headers=admin_headers).json()
    owner = {"Authorization": f"Bearer {issue_key('owner', agency['id'])}"}
    query = "/api/v1/admin/matching?postal_code=75013&city=Paris"

    client.patch("/api/v1/agency", json={"paused": True}, headers=owner)
    assert client.get(query, headers=admin_headers).json()["agencies"] == []

    client.patch("/api/v1/agency", json={"paused": False}, headers=owner)
    assert len(client.get(query, headers=admin_headers).json()["agencies"]) == 1


def test_an_agency_listing_a_commune_is_offered_its_leads_at_any_distance(
    client, admin_headers
) -> None:
    lyon = client.post(
        "/api/v1/agencies",
        json=new_agency(office={"postal_code": "69002", "city": "Lyon"}),
        headers=admin_headers,
    ).json()
    owner = {"Authorization": f"Bearer {issue_key('owner', lyon['id'])}"}
    client.patch("/api/v1/agency", json={"communes": ["75056"]}, headers=owner)

    found = client.get(
        "/api/v1/admin/matching?postal_code=75013&city=Paris", headers=admin_headers
    ).json()["agencies"]

    assert [(a["id"], a["reach"]) for a in found] == [(lyon["id"], "communes")]
    assert found[0]["distance_km"] > 380


def test_the_same_siret_cannot_be_registered_twice(client, admin_headers) -> None:
    client.post("/api/v1/agencies", json=new_agency(), headers=admin_headers)

    again = client.post("/api/v1/agencies", json=new_agency(name="Autre"), headers=admin_headers)

    assert again.status_code == 409
    assert again.json()["code"] == "siret_taken"


def test_the_api_docs_are_served_from_this_server_with_no_outside_address(client) -> None:
    page = client.get("/schema")
    script = client.get("/schema/assets/swagger-ui-bundle.js")

    assert page.status_code == 200
    assert "/schema/assets/swagger-ui-bundle.js" in page.text
    assert "https://" not in page.text
    assert script.status_code == 200
    assert len(script.content) > 100_000


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.5/hook",
        "https://127.0.0.1:54329/",
        "https://[::1]/hook",
        "https://localhost/hook",
        "http://hooks.example.com/in",
    ],
)
def test_a_webhook_cannot_point_at_an_internal_address_or_plain_http(
    client, admin_headers, url: str
) -> None:
    agency = client.post("/api/v1/agencies", json=new_agency(), headers=admin_headers).json()
    owner = {"Authorization": f"Bearer {issue_key('owner', agency['id'])}"}

    refused = client.patch("/api/v1/agency", json={"webhook_url": url}, headers=owner)
    accepted = client.patch(
        "/api/v1/agency", json={"webhook_url": "https://crm.agence.fr/mandat"}, headers=owner
    )

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "invalid_webhook_url"
    assert accepted.json()["webhook_url"] == "https://crm.agence.fr/mandat"


@pytest.mark.parametrize(
    "name",
    [
        "Agence X – confirmez sur mandat-verif.fr",
        "Agence Y, voir https://example.org",
        "Agence Z www.agence-z",
        "Agence rappelez le 06 12 34 56 78",
        "Agence contact@agence.fr",
        "Agence\u200b invisible",
    ],
)
def test_F16_an_owner_cannot_rename_the_agency_into_a_message(
    client, admin_headers, session, name: str
) -> None:
    agency = client.post("/api/v1/agencies", json=new_agency(), headers=admin_headers).json()
    owner = {"Authorization": f"Bearer {issue_key('owner', agency['id'])}"}

    refused = client.patch("/api/v1/agency", json={"name": name}, headers=owner)

    assert refused.status_code == 422
    assert [(e["path"], e["code"]) for e in refused.json()["errors"]] == [
        ("name", "name_not_plain")
    ]
    assert client.get("/api/v1/agency", headers=owner).json()["name"] == agency["name"]


def test_F16_a_rename_is_audited_with_the_old_and_new_names(client, admin_headers, session) -> None:
    agency = client.post("/api/v1/agencies", json=new_agency(), headers=admin_headers).json()
    owner = {"Authorization": f"Bearer {issue_key('owner', agency['id'])}"}

    renamed = client.patch("/api/v1/agency", json={"name": "Century 21 Bastille"}, headers=owner)

    assert renamed.status_code == 200
    details = session.execute(
        text("SELECT details FROM audit_log WHERE action = 'agency.renamed'")
    ).scalar_one()
    assert details == {"old": agency["name"], "new": "Century 21 Bastille"}


def test_a_zone_is_set_with_postal_codes_and_commune_names(client, admin_headers) -> None:
    agency = client.post("/api/v1/agencies", json=new_agency(), headers=admin_headers).json()
    owner = {"Authorization": f"Bearer {issue_key('owner', agency['id'])}"}

    changed = client.patch(
        "/api/v1/agency",
        json={"communes": ["35000", "saint-malo", "Saint-Denis (93)", "75056"]},
        headers=owner,
    )

    assert changed.status_code == 200, changed.text
    assert set(changed.json()["zone"]["communes"]) >= {"35238", "35288", "93066", "75056"}
    ambiguous = client.patch("/api/v1/agency", json={"communes": ["Saint-Denis"]}, headers=owner)
    assert ambiguous.status_code == 422
    (error,) = ambiguous.json()["errors"]
    assert (error["path"], error["code"]) == ("communes[0]", "ambiguous_commune")
    assert "(974)" in error["message"]  # La Réunion's Saint-Denis is among the choices
