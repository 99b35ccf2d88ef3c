"""The free estimate shown to a homeowner (PRODUCT §4), from comparable sales.

Comparables: sales of the same type within 500 m, growing to 1, 2, 5 and 10 km until there are at
least 10 from the last 3 years, their €/m² kept between 500 and 25,000. Fewer than 3 at 10 km: the
département's median. Nothing at all: unavailable, and the lead is still taken.

The central value is the comparables' median €/m² × surface, moved by the property's own facts
(`adjustments`: floor and lift, condition, outdoor space, parking); the range is the
inter-quartile €/m², widened to the confidence's minimum and moved by the same factors, so the
central value lies inside it by construction. The confidence comes from the comparables
(`confidence`): their count, dispersion, distance and age; never high from generated sales, and
every estimate made from generated data says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.estimation.adjustments import Adjustment, adjustments_for, multiplier
from engine.estimation.confidence import MIN_HALF_WIDTH, Evidence, grade
from engine.geo.locate import Place

RADII_M = (500, 1_000, 2_000, 5_000, 10_000)
ENOUGH = 10
MINIMUM = 3
WINDOW = timedelta(days=3 * 365)
EUR_PER_M2_MIN, EUR_PER_M2_MAX = 500, 25_000
COMPARABLE_TYPES = ("maison", "appartement")

# Count, quartiles of €/m², median distance and age, and the synthetic flag of the comparables
# matching {where}.
_STATS = """
    SELECT count(*) AS n,
           percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY eur_per_m2) AS q,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY distance_m) AS distance_m,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY age_days) AS age_days,
           coalesce(bool_or(synthetic), false) AS synthetic
    FROM (SELECT price_cents / 100.0 / surface_m2 AS eur_per_m2, synthetic,
                 ST_Distance(location, CAST(:point AS geography)) AS distance_m,
                 CAST(:today AS date) - sold_on AS age_days
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
    eur_per_m2: int | None = None  # the comparables' median, before the property's adjustments
    comparables: int = 0
    confidence: str = "none"  # high | medium | low | none
    synthetic: bool = False
    radius_m: int | None = None  # None: the département's median, or nothing
    basis: str = "none"  # radius | departement | none
    adjustments: tuple[Adjustment, ...] = ()
    # What the confidence was read from: (Q3 − Q1) / median in %, median distance and age.
    dispersion_pct: int | None = None
    median_distance_m: int | None = None
    median_age_months: int | None = None


def estimate(
    session: Session,
    property_type: str,
    surface_m2: float,
    place: Place,
    today: date,
    facts: Mapping[str, Any] | None = None,
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
    adjustments = tuple(adjustments_for(property_type, facts or {}))
    found = None
    for radius in RADII_M:
        found = session.execute(_NEAR, {**params, "radius_m": radius}).one()
        if found.n >= ENOUGH:
            return _from(found, surface_m2, radius, adjustments)
    if found is not None and found.n >= MINIMUM:
        return _from(found, surface_m2, RADII_M[-1], adjustments)
    county = session.execute(_DEPARTEMENT, {**params, "departement": place.departement_code}).one()
    if county.n >= MINIMUM:
        return _from(county, surface_m2, None, adjustments)
    return Estimate(available=False)


def _from(
    row: Any, surface_m2: float, radius_m: int | None, adjustments: tuple[Adjustment, ...]
) -> Estimate:
    q1, median, q3 = row.q
    dispersion = (q3 - q1) / median
    confidence = grade(
        Evidence(
            count=row.n,
            dispersion=dispersion,
            median_distance_m=row.distance_m,
            median_age_days=row.age_days,
            synthetic=row.synthetic,
            local=radius_m is not None,
        )
    )
    low, mid, high = price_range(q1, median, q3, confidence, surface_m2 * multiplier(adjustments))
    return Estimate(
        available=True,
        low_eur=low,
        mid_eur=mid,
        high_eur=high,
        eur_per_m2=round(median),
        comparables=row.n,
        confidence=confidence,
        synthetic=row.synthetic,
        radius_m=radius_m,
        basis="radius" if radius_m else "departement",
        adjustments=adjustments,
        dispersion_pct=round(dispersion * 100),
        median_distance_m=round(row.distance_m),
        median_age_months=round(row.age_days / 30.44),
    )


def price_range(
    q1: float, median: float, q3: float, confidence: str, scale: float
) -> tuple[int, int, int]:
    """(low, central, high) in euros: the quartiles, no narrower than the confidence's minimum
    either side of the median, times `scale` (the surface and the adjustments). The same
    increasing rounding of low ≤ median ≤ high keeps the central value inside its range."""
    width = MIN_HALF_WIDTH[confidence]
    low = min(q1, median * (1 - width))
    high = max(q3, median * (1 + width))
    return _round_eur(low * scale), _round_eur(median * scale), _round_eur(high * scale)


def _round_eur(value: float) -> int:
    """To the nearest hundred euros: an estimate is no more precise than that."""
    return int(round(value / 100) * 100)
