"""The typed street over HTTP: suggested as it is typed, and where step 1 places the property
(the distances to the agencies, the staff view and the catalogue follow that point)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from engine.demo.ban import Address, addresses, towns, write_ban
from engine.geo.ban import import_ban
from tests.conftest import issue_key
from tests.helpers import add_agency

STEP1: dict[str, Any] = {
    "property": {"type": "appartement", "surface_m2": 65, "rooms": 3},
    "address": {"postal_code": "35000", "city": "Rennes"},
}


@pytest.fixture
def rennes_streets(session, tmp_path: Path) -> dict[tuple[str, int, str], Address]:  # type: ignore[no-untyped-def]
    """Rennes's streets in the BAN layout, imported; by (street, number, index)."""
    rows = addresses(towns(session, ["35238"])[0], 30)
    import_ban(session, [write_ban(tmp_path / "adresses-35.csv.gz", rows)])
    session.commit()
    return {(a.street, a.number or 0, a.rep): a for a in rows}


def step1(client: TestClient, street: str | None = None) -> dict[str, Any]:
    address = {**STEP1["address"], **({"street": street} if street else {})}
    answer = client.post("/api/v1/estimations", json={**STEP1, "address": address})
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_the_agencies_distances_are_measured_from_the_address_found(
    client, session, rennes_streets
) -> None:
    home = rennes_streets[("Boulevard Voltaire", 28, "bis")]
    at_the_door = add_agency(session, home.lon, home.lat, name="Agence de la Porte")
    session.commit()

    from_town_hall = step1(client)
    from_address = step1(client, "28B, Bd Voltaire")
    from_street = step1(client, "bd voltaire")
    unknown = step1(client, "3 rue des Inventions Imaginaires")

    def distance(answer: dict[str, Any]) -> float:
        return next(a["distance_km"] for a in answer["agencies"] if a["id"] == str(at_the_door))

    assert from_address["location_precision"] == "address"
    assert distance(from_address) == 0.0
    assert from_town_hall["location_precision"] == "town_hall"
    assert distance(from_town_hall) == pytest.approx(0.54, abs=0.05)
    assert from_street["location_precision"] == "street"
    assert 0 < distance(from_street) < distance(from_town_hall)
    assert unknown["location_precision"] == "town_hall"
    assert distance(unknown) == distance(from_town_hall)
    stored = session.execute(
        text("""
            SELECT location_precision, ST_X(location::geometry), ST_Y(location::geometry)
            FROM estimation WHERE id = :id
        """),
        {"id": from_address["id"]},
    ).one()
    assert stored == ("address", pytest.approx(home.lon), pytest.approx(home.lat))


def test_the_lead_shows_staff_and_buyers_how_precisely_it_is_placed(
    client, session, rennes_streets
) -> None:
    home = rennes_streets[("Avenue Jean Jaurès", 13, "ter")]
    agency = add_agency(session, -1.68, 48.11, name="Agence du Centre")
    session.commit()
    estimation = step1(client, "13 ter av. Jean-Jaurès")
    session.execute(text("UPDATE estimation SET created_at = created_at - interval '1 minute'"))
    session.commit()
    lead = client.post(
        f"/api/v1/estimations/{estimation['id']}/lead",
        json={
            "contact": {
                "first_name": "Claire",
                "last_name": "Martin",
                "email": "claire.martin@exemple.fr",
                "phone": "06 12 34 56 78",
            },
            "project": {"timeline": "asap", "is_owner": True},
            "consent": {"agency_ids": [str(agency)], "text_version": "consent-2026-11-fr"},
            "website": "",
        },
    ).json()["lead_id"]

    admin = {"Authorization": f"Bearer {issue_key('admin')}"}
    staff = client.get(f"/api/v1/admin/leads/{lead}", headers=admin).json()
    assert staff["estimation"]["location_precision"] == "address"
    assert staff["estimation"]["location"] == {
        "lat": pytest.approx(home.lat),
        "lon": pytest.approx(home.lon),
    }

    buyer = {"Authorization": f"Bearer {issue_key('buyer', agency)}"}
    offer = client.get(f"/api/v1/leads/{lead}", headers=buyer).json()
    assert offer["location_precision"] == "address"
    assert client.get("/api/v1/leads", headers=buyer).json()["items"][0]["location_precision"] == (
        "address"
    )
    bought = client.post(
        f"/api/v1/leads/{lead}/purchase",
        json={"mode": "exclusive", "price_cents": offer["price_cents"]},
        headers=buyer,
    )
    assert bought.status_code == 201, bought.text
    assert bought.json()["address"]["precision"] == "address"
    assert bought.json()["address"]["street"] == "13 ter av. Jean-Jaurès"


def test_streets_are_suggested_as_the_homeowner_types(client, rennes_streets) -> None:
    answer = client.get(
        "/api/v1/places/streets", params={"postal_code": "35000", "q": "28 bd volt"}
    )

    assert answer.status_code == 200
    first = answer.json()["items"][0]
    assert first == {
        "label": "28 Boulevard Voltaire",
        "street": "Boulevard Voltaire",
        "postal_code": "35000",
        "city": "Rennes",
        "synthetic": False,
    }
    saints = client.get(
        "/api/v1/places/streets", params={"postal_code": "35000", "q": "r st mi", "city": "Rennes"}
    ).json()["items"]
    assert [s["street"] for s in saints][:1] == ["Rue Saint-Michel"]
    nothing = client.get("/api/v1/places/streets", params={"postal_code": "3500", "q": "bd"})
    assert nothing.status_code == 200
    assert nothing.json() == {"items": []}


def test_without_the_address_base_the_form_still_places_the_lead_at_the_town_hall(
    client,
) -> None:
    streets = client.get("/api/v1/places/streets", params={"postal_code": "35000", "q": "bd volt"})
    assert streets.json() == {"items": []}
    assert step1(client, "28 bd Voltaire")["location_precision"] == "town_hall"


def test_street_suggestions_are_rate_limited_with_the_other_public_reads(
    clean_db, monkeypatch
) -> None:
    from api.app import create_app

    monkeypatch.setenv("MANDAT_RATE_LIMITS", "public=3/0.001")
    with TestClient(create_app(), raise_server_exceptions=False) as limited:
        statuses = [
            limited.get(
                "/api/v1/places/streets", params={"postal_code": "35000", "q": "bd volt"}
            ).status_code
            for _ in range(4)
        ]
        communes = limited.get("/api/v1/communes", params={"postal_code": "35000"})
    assert statuses == [200, 200, 200, 429]
    assert communes.status_code == 429  # the same bucket
    assert communes.headers["content-type"].startswith("application/problem+json")
