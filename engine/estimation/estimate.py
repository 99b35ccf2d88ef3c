"""The free estimate shown to a homeowner (docs/rules.md §4), from comparable sales.

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

from sqlalchemy.orm import Session

from engine.db import driver_cursor
from engine.estimation.adjustments import Adjustment, adjustments_for, multiplier
from engine.estimation.confidence import MIN_HALF_WIDTH, Evidence, grade
from engine.geo.locate import Place

RADII_M = (500, 1_000, 2_000, 5_000, 10_000)
ENOUGH = 10
MINIMUM = 3
WINDOW = timedelta(days=3 * 365)
EUR_PER_M2_MIN, EUR_PER_M2_MAX = 500, 25_000
COMPARABLE_TYPES = ("maison", "appartement")

# The comparables: sales of the type, within the window, at a believable €/m².
_KEPT = """property_type = %(type)s AND sold_on >= %(since)s AND sold_on <= %(today)s
           AND price_cents / 100.0 / surface_m2 BETWEEN %(low)s AND %(high)s"""

# Count, quartiles of €/m², median distance and age, and the synthetic flag of the comparables
# matching {where}.
_STATS = """
    SELECT count(*) AS n,
           percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY eur_per_m2) AS q,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY distance_m) AS distance_m,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY age_days) AS age_days,
           coalesce(bool_or(synthetic), false) AS synthetic
    FROM (SELECT price_cents / 100.0 / surface_m2 AS eur_per_m2, synthetic,
                 ST_Distance(location, CAST(%(point)s AS geography)) AS distance_m,
                 CAST(%(today)s AS date) - sold_on AS age_days
          FROM comparable_sale
          WHERE {kept} AND {where}) AS s
"""

# Whether `ENOUGH` comparables lie within {radius} m: it stops at the tenth.
_PROBE = """(SELECT count(*) FROM (SELECT FROM comparable_sale
                WHERE {kept}
                  AND ST_DWithin(location, CAST(%(point)s AS geography), {radius})
                LIMIT {enough}) AS s) >= {enough}"""

# The whole estimate in one statement. `radius` is the smallest radius holding `ENOUGH`
# comparables, probed in increasing order by counts that stop at the tenth (CASE tries its WHEN
# branches in order and stops at the first true one), else the largest; the statistics are
# computed once there. The département's are computed only when that radius holds fewer than
# `MINIMUM` (a one-time filter: otherwise never scanned). The same answer as computing the
# statistics at each radius in turn, for a fraction of the work.
ESTIMATE = f"""
    WITH radius AS MATERIALIZED (
        SELECT CASE {
    " ".join(
        f"WHEN {_PROBE.format(kept=_KEPT, radius=r, enough=ENOUGH)} THEN {r}" for r in RADII_M[:-1]
    )
} ELSE {RADII_M[-1]} END AS radius_m
    ), near AS MATERIALIZED (
        {
    _STATS.format(
        kept=_KEPT,
        where="ST_DWithin(location, CAST(%(point)s AS geography), (SELECT radius_m FROM radius))",
    )
}
    )
    SELECT (SELECT radius_m FROM radius) AS radius_m, near.* FROM near
    UNION ALL
    SELECT NULL, county.*
    FROM ({_STATS.format(kept=_KEPT, where="departement_code = %(departement)s")}) AS county
    WHERE (SELECT n FROM near) < {MINIMUM}
"""


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


@dataclass(frozen=True)
class Comparables:
    """What the estimate statement returns: the comparables at the radius found, then (only when
    those are fewer than `MINIMUM`) the département's."""

    n: int
    q: list[float] | None
    distance_m: float | None
    age_days: float | None
    synthetic: bool


def estimate_statement(
    property_type: str, place: Place, today: date
) -> tuple[str, dict[str, Any]] | None:
    """The one statement of an estimate and its parameters; None when no sale compares (land
    and other property have no like-for-like sales)."""
    if property_type not in COMPARABLE_TYPES:
        return None
    return ESTIMATE, {
        "type": property_type,
        "since": today - WINDOW,
        "today": today,
        "point": place.ewkt,
        "low": EUR_PER_M2_MIN,
        "high": EUR_PER_M2_MAX,
        "departement": place.departement_code,
    }


def estimate_from(
    rows: list[Any], property_type: str, surface_m2: float, facts: Mapping[str, Any] | None
) -> Estimate:
    """The estimate from the statement's rows: (radius_m, n, q, distance_m, age_days,
    synthetic), the radius's first, the département's second when there is one."""
    if not rows:
        return Estimate(available=False)
    adjustments = tuple(adjustments_for(property_type, facts or {}))
    near = rows[0]
    radius_m, found = near[0], Comparables(*near[1:])
    if found.n >= ENOUGH or (radius_m == RADII_M[-1] and found.n >= MINIMUM):
        return _from(found, surface_m2, radius_m, adjustments)
    county = Comparables(*rows[1][1:])
    if county.n >= MINIMUM:
        return _from(county, surface_m2, None, adjustments)
    return Estimate(available=False)


def estimate(
    session: Session,
    property_type: str,
    surface_m2: float,
    place: Place,
    today: date,
    facts: Mapping[str, Any] | None = None,
) -> Estimate:
    statement = estimate_statement(property_type, place, today)
    if statement is None:
        return Estimate(available=False)
    cursor = driver_cursor(session)
    rows = cursor.execute(statement[0], statement[1], prepare=True).fetchall()
    return estimate_from(rows, property_type, surface_m2, facts)


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
