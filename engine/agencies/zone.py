"""An agency's zone: its centre, its radius and the communes it lists, read from what an agency
types (coordinates or postal code + city for a point; INSEE codes, postal codes or names for
communes)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.agencies.models import Agency, AgencyCommune
from engine.errors import FieldError, RuleViolation
from engine.geo.locate import Place, locate, locate_point
from engine.geo.names import normalise

# Mirrors agency.ck_agency_radius_range: checked here for a clear error, enforced by the database.
RADIUS_MIN_KM = 5
RADIUS_MAX_KM = 50
MAX_COMMUNES = 500


@dataclass
class Location:
    """A point given as coordinates, or as postal code + city (placed at the town hall)."""

    lat: float | None = None
    lon: float | None = None
    postal_code: str | None = None
    city: str | None = None


def change_zone(session: Session, agency: Agency, changes: dict[str, Any]) -> list[FieldError]:
    """Moves the zone's radius, centre and communes as asked; what cannot be, as errors."""
    errors: list[FieldError] = []
    if "radius_km" in changes:
        agency.radius_m = checked_radius_m(changes["radius_km"], errors)
    if "center" in changes:
        center = changes["center"]
        if center is None:
            agency.zone_center = agency.office
        else:
            place = locate_place(session, center, "center", errors)
            if place is not None:
                agency.zone_center = place.ewkt  # type: ignore[assignment]  # EWKT is bound as is
    if "communes" in changes:
        codes = zone_communes(session, changes["communes"] or [], errors)
        agency.communes = [AgencyCommune(agency_id=agency.id, commune_code=c) for c in codes]
    return errors


def locate_place(
    session: Session, where: Location | dict[str, Any], path: str, errors: list[FieldError]
) -> Place | None:
    loc = where if isinstance(where, Location) else Location(**where)
    try:
        if loc.postal_code is not None or loc.city is not None:
            return locate(session, loc.postal_code or "", loc.city or "", loc.lat, loc.lon, path)
        if loc.lat is not None and loc.lon is not None:
            return locate_point(session, loc.lat, loc.lon, path)
        errors.append(
            FieldError(path, "location_required", "Give lat and lon, or postal_code and city.")
        )
    except RuleViolation as violation:
        errors.extend(violation.errors)
    return None


def checked_radius_m(radius_km: float, errors: list[FieldError]) -> int:
    if not RADIUS_MIN_KM <= radius_km <= RADIUS_MAX_KM:
        errors.append(
            FieldError(
                "radius_km",
                "radius_out_of_range",
                f"The radius is between {RADIUS_MIN_KM} and {RADIUS_MAX_KM} km.",
            )
        )
        return RADIUS_MIN_KM * 1000
    return round(radius_km * 1000)


_NAME_WITH_DEPARTEMENT = re.compile(r"^(?P<name>.+?)\s*\((?P<dep>\d[0-9AB]|\d{3})\)$")
_ZONE_CODES = text("SELECT code FROM commune WHERE code = ANY(:entries)")
_ZONE_POSTAL_CODES = text("""
    SELECT postal_code, commune_code FROM postal_code WHERE postal_code = ANY(:entries)
    ORDER BY postal_code, commune_code
""")
_ZONE_NAMES = text("""
    SELECT code, name, departement_code FROM commune WHERE search_name = :name
    ORDER BY departement_code, code
""")


def zone_communes(session: Session, entries: list[str], errors: list[FieldError]) -> list[str]:
    """The INSEE codes of the communes a zone lists. Each entry is an INSEE code (`35238`), a
    postal code (`35000`: every commune it serves) or a commune's name (`Rennes`; with its
    département when the name is shared: `Saint-Denis (93)`). Five digits read as an INSEE code
    when one exists, as a postal code otherwise."""
    typed = [e.strip() for e in entries]
    unique = list(dict.fromkeys(typed))
    if len(unique) > MAX_COMMUNES:
        errors.append(
            FieldError("communes", "too_many_communes", f"At most {MAX_COMMUNES} communes.")
        )
        return []
    codes = set(session.scalars(_ZONE_CODES, {"entries": unique}))
    by_postal_code: dict[str, list[str]] = {}
    for postal_code, commune in session.execute(_ZONE_POSTAL_CODES, {"entries": unique}):
        by_postal_code.setdefault(postal_code, []).append(commune)
    found: list[str] = []
    for entry in unique:
        path = f"communes[{typed.index(entry)}]"
        if entry in codes:
            found.append(entry)
        elif entry in by_postal_code:
            found.extend(by_postal_code[entry])
        else:
            found.extend(_commune_named(session, entry, path, errors))
    return list(dict.fromkeys(found))[:MAX_COMMUNES]


def _commune_named(session: Session, entry: str, path: str, errors: list[FieldError]) -> list[str]:
    qualified = _NAME_WITH_DEPARTEMENT.match(entry)
    name, departement = (qualified["name"], qualified["dep"]) if qualified else (entry, None)
    rows = session.execute(_ZONE_NAMES, {"name": normalise(name)}).all()
    if departement:
        rows = [r for r in rows if r.departement_code == departement]
    if len(rows) == 1:
        return [rows[0].code]
    if not rows:
        errors.append(
            FieldError(
                path,
                "unknown_commune",
                f"{entry} is neither an INSEE code, a postal code nor a commune's name.",
            )
        )
    else:
        choices = ", ".join(f"{r.name} ({r.departement_code})" for r in rows[:10])
        errors.append(
            FieldError(path, "ambiguous_commune", f"Several communes have this name: {choices}.")
        )
    return []
