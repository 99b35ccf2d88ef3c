"""Step 1 of the estimation form over HTTP: an estimate and the agencies near the property."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.helpers import add_agency, add_sale

BODY: dict[str, Any] = {
    "property": {"type": "appartement", "surface_m2": 65, "rooms": 3, "floor": 2, "lift": True},
    "address": {"postal_code": "35000", "city": "Rennes"},
    "source": "partner-slug",
}


def with_changes(**changes: Any) -> dict[str, Any]:
    body = {
        "property": dict(BODY["property"]),
        "address": dict(BODY["address"]),
        "source": BODY["source"],
    }
    for path, value in changes.items():
        section, _, name = path.partition("__")
        if name:
            body[section][name] = value
        else:
            body[section] = value
    return body


def add_rennes_sales(session, count: int, eur_per_m2: float) -> None:  # type: ignore[no-untyped-def]
    for _ in range(count):
        add_sale(
            session,
            -1.6749,
            48.0931,
            eur_per_m2,
            synthetic=True,
            sold_on=date.today() - timedelta(days=30),
        )


def test_a_homeowner_gets_an_estimate_and_the_nearest_agencies(client, session) -> None:
    add_rennes_sales(session, 12, 3_500)
    near = add_agency(session, -1.68, 48.10, name="Agence Rennes Centre")
    add_agency(session, -1.60, 48.12, name="Agence Cesson")
    session.commit()

    answer = client.post("/api/v1/estimations", json=BODY)

    assert answer.status_code == 201
    body = answer.json()
    estimate = body["estimate"]
    # Twelve identical generated sales: medium at most (never high on synthetic data), and a
    # range no narrower than ±10 % around the central value, which it contains.
    assert {k: estimate[k] for k in ("low_eur", "mid_eur", "high_eur")} == {
        "low_eur": 204_800,
        "mid_eur": 227_500,
        "high_eur": 250_300,
    }
    assert (estimate["confidence"], estimate["synthetic"]) == ("medium", True)
    assert (estimate["eur_per_m2"], estimate["comparables"], estimate["available"]) == (
        3_500,
        12,
        True,
    )
    assert (estimate["adjustments"], estimate["dispersion_pct"]) == ([], 0)  # 2nd floor, lift
    assert [a["name"] for a in body["agencies"]] == ["Agence Rennes Centre", "Agence Cesson"]
    assert body["agencies"][0]["id"] == str(near)
    assert set(body["agencies"][0]) == {"id", "name", "distance_km", "reach"}
    stored = session.execute(
        text(
            "SELECT source, commune_code, property->>'floor', jsonb_array_length(candidates)"
            " FROM estimation"
        )
    ).one()
    assert tuple(stored) == ("partner-slug", "35238", "2", 2)


def test_with_no_sales_nearby_the_estimate_is_unavailable_but_answered(client) -> None:
    answer = client.post(
        "/api/v1/estimations", json=with_changes(address={"postal_code": "48000", "city": "Mende"})
    )

    assert answer.status_code == 201
    assert answer.json()["estimate"]["available"] is False
    assert answer.json()["agencies"] == []


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"property__type": "chateau"}, "property.type"),
        ({"property__surface_m2": 4}, "property.surface_m2"),
        ({"property__surface_m2": 10_001}, "property.surface_m2"),
        ({"property__rooms": -1}, "property.rooms"),
        ({"property__pool": True}, "property.pool"),
        ({"address__postal_code": "99999"}, "address.postal_code"),
        ({"address__city": "Brest"}, "address.city"),
        ({"address__lat": 48.86, "address__lon": 2.35}, "address.lat"),  # Paris, not Rennes
        ({"address__lat": 51.5}, "address.lon"),
        ({"address__lat": 50.8467, "address__lon": 4.3525}, "address.lat"),  # Brussels
        ({"address__lat": 0, "address__lon": 0}, "address.lat"),
        ({"address__postal_code": "3500"}, "address.postal_code"),
        ({"address__lat": 95, "address__lon": 2}, "address.lat"),
        ({"source": "Bad Slug!"}, "source"),
        ({"owner": "me"}, "owner"),
    ],
)
def test_bad_input_is_a_422_at_its_field_and_nothing_is_stored(
    client, session, changes: dict[str, Any], path: str
) -> None:
    answer = client.post("/api/v1/estimations", json=with_changes(**changes))

    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert path in [e["path"] for e in answer.json()["errors"]]
    assert session.execute(text("SELECT count(*) FROM estimation")).scalar_one() == 0


def test_the_property_s_facts_move_the_estimate_by_published_factors(client, session) -> None:
    add_rennes_sales(session, 12, 3_500)
    session.commit()
    ground_floor = with_changes(
        property__floor=0, property__outdoor_space="balcony", property__parking=True
    )

    plain = client.post("/api/v1/estimations", json=BODY).json()["estimate"]
    moved = client.post("/api/v1/estimations", json=ground_floor).json()["estimate"]

    assert [(a["key"], a["basis_points"], a["label_fr"]) for a in moved["adjustments"]] == [
        ("ground_floor", -800, "rez-de-chaussée"),
        ("balcony", 400, "balcon"),
        ("parking", 400, "parking ou garage"),
    ]
    assert moved["mid_eur"] == round(plain["mid_eur"] * 0.92 * 1.04 * 1.04, -2)
    assert moved["low_eur"] <= moved["mid_eur"] <= moved["high_eur"]
    assert moved["eur_per_m2"] == plain["eur_per_m2"]  # the comparables did not change
    stored = session.execute(text("SELECT estimate->'adjustments' FROM estimation")).scalars()
    assert sorted(len(a) for a in stored) == [0, 3]
