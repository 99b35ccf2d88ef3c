"""Postal code + city (+ optional coordinates) → a commune and a point, offline.

A postal code can cover several communes (01400 → 10) and Paris, Lyon and Marseille codes point
to an arrondissement. Coordinates sent by an embedding site are kept when they fall within
`MAX_COORDINATE_DISTANCE_M` of the commune named; otherwise the input is refused. The postal
codes and their communes are read from the process's gazetteer (gazetteer.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.db import driver_cursor
from engine.errors import RuleViolation
from engine.geo.gazetteer import DATASET_VERSION, POSTAL_CODE, Gazetteer, gazetteer
from engine.geo.names import city_matches

MAX_COORDINATE_DISTANCE_M = 5_000


@dataclass(frozen=True)
class Place:
    commune_code: str
    commune_name: str
    departement_code: str
    parent_code: str | None
    lon: float
    lat: float
    # "coordinates" (given by the caller), "address" or "street" (found in the BAN: see
    # `engine.geo.addresses`), or "town_hall"
    precision: str

    @property
    def ewkt(self) -> str:
        return point_ewkt(self.lon, self.lat)

    @property
    def commune_codes(self) -> tuple[str, ...]:
        """The commune and, for an arrondissement, its city: what a commune list may name."""
        return (self.commune_code, self.parent_code) if self.parent_code else (self.commune_code,)


def point_ewkt(lon: float, lat: float) -> str:
    return f"SRID=4326;POINT({lon!r} {lat!r})"


# How far a point is from a commune (0 inside it), in metres.
DISTANCE_TO_COMMUNE = """
    SELECT ST_Distance(coalesce(c.boundary::geography, c.town_hall),
                       CAST(%(point)s AS geography))
    FROM commune c WHERE c.code = %(code)s
"""

_COMMUNE_AT = text("""
    SELECT c.code, c.name, c.departement_code, c.parent_code
    FROM commune c
    WHERE ST_DWithin(c.boundary, ST_GeomFromEWKT(:point), :tolerance_deg)
      AND ST_DWithin(c.boundary::geography, CAST(:point AS geography), :tolerance_m)
    ORDER BY ST_Distance(c.boundary::geography, CAST(:point AS geography)), c.kind = 'COM', c.code
    LIMIT 1
""")


def locate(
    session: Session,
    postal_code: str,
    city: str,
    lat: float | None = None,
    lon: float | None = None,
    path: str = "address",
) -> Place:
    """The commune named by postal code + city, placed at the coordinates given or its town hall."""
    place = locate_commune(session, postal_code, city, lat, lon, path)
    if lat is None or lon is None:
        return place
    cursor = driver_cursor(session)
    params = {"point": point_ewkt(lon, lat), "code": place.commune_code}
    (distance,) = cursor.execute(DISTANCE_TO_COMMUNE, params).fetchone()  # type: ignore[misc]
    return at_coordinates(place, lat, lon, distance, path)


def locate_commune(
    session: Session,
    postal_code: str,
    city: str,
    lat: float | None = None,
    lon: float | None = None,
    path: str = "address",
) -> Place:
    """The commune named by postal code + city, at its town hall, from the process's gazetteer:
    no round trip, unless the answer is a refusal (the dataset is then checked to be the one
    held, and the gazetteer loaded again if not). Coordinates, when given, are checked for
    range only: `at_coordinates` places the property at them once their distance to the commune
    (`DISTANCE_TO_COMMUNE`) is known."""
    code = (postal_code or "").strip()
    if not POSTAL_CODE.match(code):
        raise RuleViolation.at(
            f"{_at(path)}postal_code", "invalid_postal_code", "A postal code has five digits."
        )
    try:
        place = _town_hall(gazetteer(session), code, city, path)
    except RuleViolation:
        current = session.execute(text(DATASET_VERSION)).scalar_one_or_none()
        place = _town_hall(gazetteer(session, unless_version=current), code, city, path)
    if lat is None and lon is None:
        return place
    if lat is None or lon is None:
        missing = "lat" if lat is None else "lon"
        raise RuleViolation.at(
            f"{_at(path)}{missing}",
            "incomplete_coordinates",
            "Give both latitude and longitude, or neither.",
        )
    _check_coordinates(lat, lon, path)
    return place


def _town_hall(found: Gazetteer, code: str, city: str, path: str) -> Place:
    rows = found.communes.get(code, ())
    if not rows:
        raise RuleViolation.at(
            f"{_at(path)}postal_code",
            "unknown_postal_code",
            f"No commune has the postal code {code}.",
        )
    # Its current name first; else a former commune now part of it (Annecy-le-Vieux → Annecy).
    named = [r for r in rows if city_matches(city or "", r.search_name)] or [
        r for r in rows if any(city_matches(city or "", n) for n in r.former_names)
    ]
    if not named and not (city or "").strip() and len(rows) == 1:
        named = list(rows)
    if not named:
        choices = ", ".join(r.name for r in rows[:12])
        raise RuleViolation.at(
            f"{_at(path)}city",
            "unknown_city",
            f"No commune of that name has the postal code {code}: {choices}.",
        )
    chosen = named[0]
    return Place(
        chosen.code,
        chosen.name,
        chosen.departement_code,
        chosen.parent_code,
        chosen.lon,
        chosen.lat,
        "town_hall",
    )


def at_coordinates(place: Place, lat: float, lon: float, distance_m: float, path: str) -> Place:
    """The place at the coordinates given, when they are `distance_m` from its commune; refused
    beyond `MAX_COORDINATE_DISTANCE_M`."""
    if distance_m > MAX_COORDINATE_DISTANCE_M:
        raise RuleViolation.at(
            f"{_at(path)}lat",
            "coordinates_far_from_commune",
            f"These coordinates are {distance_m / 1000:.1f} km from {place.commune_name}.",
        )
    return Place(
        place.commune_code,
        place.commune_name,
        place.departement_code,
        place.parent_code,
        lon,
        lat,
        "coordinates",
    )


def locate_point(session: Session, lat: float, lon: float, path: str = "office") -> Place:
    """The commune at a point (an arrondissement rather than its city); outside France refused."""
    _check_coordinates(lat, lon, path)
    row = (
        session.execute(
            _COMMUNE_AT,
            {"point": point_ewkt(lon, lat), "tolerance_deg": 0.02, "tolerance_m": 1_000},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise RuleViolation.at(
            f"{_at(path)}lat", "outside_france", "These coordinates are not in a French commune."
        )
    return Place(
        row["code"],
        row["name"],
        row["departement_code"],
        row["parent_code"],
        lon,
        lat,
        "coordinates",
    )


def _at(path: str) -> str:
    """The prefix of a field path: `address.` for a body object, nothing for query parameters."""
    return f"{path}." if path else ""


def _check_coordinates(lat: float, lon: float, path: str) -> None:
    if not -90 <= lat <= 90:
        raise RuleViolation.at(
            f"{_at(path)}lat", "invalid_latitude", "Latitude is between -90 and 90."
        )
    if not -180 <= lon <= 180:
        raise RuleViolation.at(
            f"{_at(path)}lon", "invalid_longitude", "Longitude is between -180 and 180."
        )
