"""The free estimate shown to a homeowner (PRODUCT §4), from comparable sales.

Comparables: sales of the same type within 500 m, growing to 1, 2, 5 and 10 km until there are at
least 10 from the last 3 years, their €/m² kept between 500 and 25,000. The estimate is the
median €/m² × surface, the range the inter-quartile €/m². Fewer than 3 at 10 km: the
département's median, with low confidence. Nothing at all: unavailable, and the lead is still
taken. Every estimate made from generated data says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.geo.locate import Place

RADII_M = (500, 1_000, 2_000, 5_000, 10_000)
ENOUGH = 10
MINIMUM = 3
WINDOW = timedelta(days=3 * 365)
EUR_PER_M2_MIN, EUR_PER_M2_MAX = 500, 25_000
COMPARABLE_TYPES = ("maison", "appartement")

# Count, quartiles of €/m² and the synthetic flag of the comparables matching {where}.
_STATS = """
    SELECT count(*) AS n,
           percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY eur_per_m2) AS q,
           coalesce(bool_or(synthetic), false) AS synthetic
    FROM (SELECT price_cents / 100.0 / surface_m2 AS eur_per_m2, synthetic
          FROM comparable_sale
          WHERE property_type = :type AND sold_on >= :since AND sold_on <= :today
            AND {where}) AS s
    WHERE eur_per_m2 BETWEEN :low AND :high
"""
_NEAR = text(_STATS.format(where="ST_DWithin(location, CAST(:point AS geography), :radius_m)"))
_DEPARTEMENT = text(_STATS.format(where="departement_code = :departement"))


@dataclass(frozen=True)
class Estimate:
    available: bool
    low_eur: int | None = None
    mid_eur: int | None = None
    high_eur: int | None = None
    eur_per_m2: int | None = None
    comparables: int = 0
    confidence: str = "none"  # high | medium | low | none
    synthetic: bool = False
    radius_m: int | None = None  # None: the département's median, or nothing
    basis: str = "none"  # radius | departement | none


def estimate(
    session: Session, property_type: str, surface_m2: float, place: Place, today: date
) -> Estimate:
    if property_type not in COMPARABLE_TYPES:
        return Estimate(available=False)  # land and other property have no like-for-like sales
    params = {
        "type": property_type,
        "since": today - WINDOW,
        "today": today,
        "point": place.ewkt,
        "low": EUR_PER_M2_MIN,
        "high": EUR_PER_M2_MAX,
    }
    found = None
    for radius in RADII_M:
        found = session.execute(_NEAR, {**params, "radius_m": radius}).one()
        if found.n >= ENOUGH:
            return _from(found, surface_m2, "high" if radius <= 1_000 else "medium", radius)
    if found is not None and found.n >= MINIMUM:
        return _from(found, surface_m2, "low", RADII_M[-1])
    county = session.execute(_DEPARTEMENT, {**params, "departement": place.departement_code}).one()
    if county.n >= MINIMUM:
        return _from(county, surface_m2, "low", None)
    return Estimate(available=False)


def _from(row: object, surface_m2: float, confidence: str, radius_m: int | None) -> Estimate:
    q1, median, q3 = row.q  # type: ignore[attr-defined]
    return Estimate(
        available=True,
        low_eur=_round_eur(q1 * surface_m2),
        mid_eur=_round_eur(median * surface_m2),
        high_eur=_round_eur(q3 * surface_m2),
        eur_per_m2=round(median),
        comparables=row.n,  # type: ignore[attr-defined]
        confidence=confidence,
        synthetic=row.synthetic,  # type: ignore[attr-defined]
        radius_m=radius_m,
        basis="radius" if radius_m else "departement",
    )


def _round_eur(value: float) -> int:
    """To the nearest hundred euros: an estimate is no more precise than that."""
    return int(round(value / 100) * 100)
