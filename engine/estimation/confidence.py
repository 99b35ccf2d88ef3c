"""How sure an estimate is, read from its comparables (docs/estimate.md).

Four things make comparables a good guide: how many there are, how close their €/m² are to each
other (the inter-quartile range over the median), how near they sold and how recently. Each is
graded high, medium or low against the thresholds below, and the estimate is only as sure as its
weakest grade: ten recent sales next door with prices all over the place are not a sure estimate.
Generated (synthetic) sales describe no real market, so they never give more than medium; the
département's median, a fallback, is always low. Each grade only rises with more comparables,
tighter prices, nearer or more recent sales, so adding comparables alike never lowers it.
"""

from __future__ import annotations

from dataclasses import dataclass

LEVELS = ("low", "medium", "high")
# (high from, medium from): counts at least; dispersion, distance and age at most.
COUNT = (10, 5)
DISPERSION = (0.20, 0.35)  # (Q3 − Q1) / median of the comparables' €/m²
DISTANCE_M = (1_000, 5_000)  # median distance of the comparables to the property
AGE_DAYS = (548, 913)  # median age of the sales: 18 and 30 months
# The narrowest range shown for each level, either side of the central value: even identical
# comparables leave the property's own unknowns.
MIN_HALF_WIDTH = {"high": 0.06, "medium": 0.10, "low": 0.15}


@dataclass(frozen=True)
class Evidence:
    """What the comparables say about themselves."""

    count: int
    dispersion: float
    median_distance_m: float
    median_age_days: float
    synthetic: bool
    local: bool = True  # False: the département's median


def _at_least(value: float, thresholds: tuple[float, float]) -> int:
    return 2 if value >= thresholds[0] else 1 if value >= thresholds[1] else 0


def _at_most(value: float, thresholds: tuple[float, float]) -> int:
    return 2 if value <= thresholds[0] else 1 if value <= thresholds[1] else 0


def grade(evidence: Evidence) -> str:
    """high | medium | low."""
    if evidence.count <= 0:
        return "low"
    level = min(
        _at_least(evidence.count, COUNT),
        _at_most(evidence.dispersion, DISPERSION),
        _at_most(evidence.median_distance_m, DISTANCE_M),
        _at_most(evidence.median_age_days, AGE_DAYS),
        2 if evidence.local else 0,
        1 if evidence.synthetic else 2,
    )
    return LEVELS[level]
