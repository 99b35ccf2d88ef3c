"""Small builders shared by the tests."""

from __future__ import annotations

import itertools
import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.demo.seed import demo_siret

_numbers = itertools.count(1)


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
) -> uuid.UUID:
    """An agency whose office and zone centre are at (lon, lat)."""
    number = next(_numbers)
    point = f"SRID=4326;POINT({lon!r} {lat!r})"
    agency_id = session.execute(
        text("""
            INSERT INTO agency (name, siret, email, office, zone_center, radius_m,
                                accepts_extended_leads, paused, status)
            VALUES (:name, :siret, :email, CAST(:p AS geography), CAST(:p AS geography), :radius,
                    :extended, :paused, :status)
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
        },
    ).scalar_one()
    for code in communes:
        session.execute(
            text("INSERT INTO agency_commune VALUES (:a, :c)"), {"a": agency_id, "c": code}
        )
    return agency_id
