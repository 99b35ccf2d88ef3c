"""Small builders shared by the tests."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import TypeVar

import anyio
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.demo.seed import demo_siret

_numbers = itertools.count(1)
T = TypeVar("T")


def run_async(scenario: Callable[[], Awaitable[T]]) -> T:
    """An async scenario on an event loop of its own, in a thread of its own: a browser test's
    Playwright may have left its loop running in this one."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(anyio.run, scenario).result()


def add_agency(
    session: Session,
    lon: float,
    lat: float,
    radius_km: float = 20,
    *,
    name: str | None = None,
    accepts_extended: bool = True,
    paused: bool = False,
    status: str = "active",
    communes: tuple[str, ...] = (),
    registered: tuple[str, str, str] | None = ("2 place de la République", "35000", "Rennes"),
) -> uuid.UUID:
    """An agency whose office and zone centre are at (lon, lat), with its registered address
    (street, postcode, city) unless `registered` is None."""
    number = next(_numbers)
    point = f"SRID=4326;POINT({lon!r} {lat!r})"
    agency_id = session.execute(
        text("""
            INSERT INTO agency (name, siret, email, office, zone_center, radius_m,
                                accepts_extended_leads, paused, status, registered_street,
                                registered_postcode, registered_city)
            VALUES (:name, :siret, :email, CAST(:p AS geography), CAST(:p AS geography), :radius,
                    :extended, :paused, :status, :street, :postcode, :city)
            RETURNING id
        """),
        {
            "name": name or f"Agence test {number}",
            "siret": demo_siret(500_000 + number),
            "email": f"agence{number}@exemple.fr",
            "p": point,
            "radius": round(radius_km * 1000),
            "extended": accepts_extended,
            "paused": paused,
            "status": status,
            "street": registered[0] if registered else None,
            "postcode": registered[1] if registered else None,
            "city": registered[2] if registered else None,
        },
    ).scalar_one()
    for code in communes:
        session.execute(
            text("INSERT INTO agency_commune VALUES (:a, :c)"), {"a": agency_id, "c": code}
        )
    return agency_id


def add_sale(
    session: Session,
    lon: float,
    lat: float,
    eur_per_m2: float,
    *,
    sold_on: date,
    surface: float = 50,
    kind: str = "appartement",
    departement: str = "35",
    synthetic: bool = False,
) -> None:
    """A comparable sale in Rennes' commune (35238) at (lon, lat)."""
    session.execute(
        text("""
            INSERT INTO comparable_sale (source, slice, mutation_id, sold_on, property_type,
                price_cents, surface_m2, commune_code, departement_code, location,
                located_at_town_hall, synthetic)
            VALUES ('test', 'test', gen_random_uuid()::text, :sold_on, :kind, :price, :surface,
                    '35238', :dep, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography,
                    false, :synthetic)"""),
        {
            "sold_on": sold_on,
            "kind": kind,
            "price": round(eur_per_m2 * surface * 100),
            "surface": surface,
            "dep": departement,
            "lon": lon,
            "lat": lat,
            "synthetic": synthetic,
        },
    )
