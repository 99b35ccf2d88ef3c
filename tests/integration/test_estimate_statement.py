"""The estimate in one statement answers exactly what the radius-by-radius estimate answered.

`by_radius` below is the estimate as it was computed before: the statistics at 500 m, then 1, 2,
5 and 10 km until 10 comparables, then the département's. Hypothesis draws sales around Rennes
(near and far, old and new, flats and houses, believable prices or not, another département) and
both must give the same `Estimate`, field for field.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.estimation import estimate as module
from engine.estimation.adjustments import adjustments_for
from engine.estimation.estimate import Estimate, estimate
from engine.geo.locate import Place

GEOD = Geod(ellps="WGS84")
TODAY = date(2026, 11, 26)
RENNES = Place("35238", "Rennes", "35", None, -1.67494, 48.09307, "town_hall")

_OLD_STATS = """
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
_OLD_NEAR = text(
    _OLD_STATS.format(where="ST_DWithin(location, CAST(:point AS geography), :radius_m)")
)
_OLD_DEPARTEMENT = text(_OLD_STATS.format(where="departement_code = :departement"))


def by_radius(
    session: Session, kind: str, surface: float, place: Place, facts: dict[str, Any]
) -> Estimate:
    """The estimate as it was: one statement per radius, then the département's."""
    if kind not in module.COMPARABLE_TYPES:
        return Estimate(available=False)
    params = {
        "type": kind,
        "since": TODAY - module.WINDOW,
        "today": TODAY,
        "point": place.ewkt,
        "low": module.EUR_PER_M2_MIN,
        "high": module.EUR_PER_M2_MAX,
    }
    adjustments = tuple(adjustments_for(kind, facts))
    found = None
    for radius in module.RADII_M:
        found = session.execute(_OLD_NEAR, {**params, "radius_m": radius}).one()
        if found.n >= module.ENOUGH:
            return module._from(found, surface, radius, adjustments)
    if found is not None and found.n >= module.MINIMUM:
        return module._from(found, surface, module.RADII_M[-1], adjustments)
    county = session.execute(
        _OLD_DEPARTEMENT, {**params, "departement": place.departement_code}
    ).one()
    if county.n >= module.MINIMUM:
        return module._from(county, surface, None, adjustments)
    return Estimate(available=False)


# Distances either side of each radius, and far away in the same département.
DISTANCES = st.sampled_from([50, 480, 520, 990, 1_010, 1_990, 2_010, 4_990, 5_010, 9_990,
                             10_010, 30_000, 60_000])  # fmt: skip
SALE = st.fixed_dictionaries(
    {
        "metres": DISTANCES,
        "bearing": st.floats(0, 359),
        "eur_per_m2": st.sampled_from([300, 1_500, 2_500, 3_000, 4_200, 9_000, 30_000]),
        "days_ago": st.sampled_from([-10, 0, 30, 400, 1_000, 1_094, 1_096, 1_500]),
        "kind": st.sampled_from(["appartement", "appartement", "maison"]),
        "departement": st.sampled_from(["35", "35", "35", "56"]),
        "synthetic": st.booleans(),
        "surface": st.sampled_from([18, 50, 75, 140]),
    }
)
FACTS = st.fixed_dictionaries(
    {},
    optional={
        "floor": st.integers(0, 8),
        "lift": st.booleans(),
        "condition": st.sampled_from(["a_renover", "bon", "refait"]),
        "parking": st.booleans(),
    },
)


def add_sales(session: Session, sales: list[dict[str, Any]]) -> None:
    session.execute(text("DELETE FROM comparable_sale"))
    rows = []
    for s in sales:
        lon, lat, _ = GEOD.fwd(RENNES.lon, RENNES.lat, s["bearing"], s["metres"])
        rows.append(
            {
                "sold_on": TODAY - timedelta(days=s["days_ago"]),
                "kind": s["kind"],
                "price": round(s["eur_per_m2"] * s["surface"] * 100),
                "surface": s["surface"],
                "dep": s["departement"],
                "lon": lon,
                "lat": lat,
                "synthetic": s["synthetic"],
            }
        )
    if rows:
        session.execute(
            text("""
                INSERT INTO comparable_sale (source, slice, mutation_id, sold_on, property_type,
                    price_cents, surface_m2, commune_code, departement_code, location,
                    located_at_town_hall, synthetic)
                VALUES ('test', 'test', gen_random_uuid()::text, :sold_on, :kind, :price,
                        :surface, '35238', :dep,
                        ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, false, :synthetic)
            """),
            rows,
        )


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sales=st.lists(SALE, max_size=45),
    kind=st.sampled_from(["appartement", "maison", "terrain"]),
    surface=st.sampled_from([20.0, 64.5, 110.0, 900.0]),
    facts=FACTS,
)
def test_one_statement_answers_as_the_radius_by_radius_estimate(
    session: Session, sales: list[dict[str, Any]], kind: str, surface: float, facts: dict[str, Any]
) -> None:
    add_sales(session, sales)

    assert estimate(session, kind, surface, RENNES, TODAY, facts) == by_radius(
        session, kind, surface, RENNES, facts
    )


def test_each_basis_is_reached_by_the_drawn_data(session: Session) -> None:
    """The property above is not vacuous: the same kinds of data give each basis."""
    base = {"bearing": 10.0, "eur_per_m2": 3_000, "days_ago": 30, "kind": "appartement",
            "departement": "35", "synthetic": False, "surface": 50}  # fmt: skip
    cases = {
        ("radius", 500): [{**base, "metres": 50}] * 10,
        ("radius", 5_000): [{**base, "metres": 50}] * 4 + [{**base, "metres": 4_990}] * 6,
        ("radius", 10_000): [{**base, "metres": 9_990}] * 3,
        ("departement", None): [{**base, "metres": 9_990}] * 2 + [{**base, "metres": 60_000}],
        ("none", None): [{**base, "metres": 60_000, "departement": "56"}] * 5,
    }
    for (basis, radius), sales in cases.items():
        add_sales(session, sales)
        new = estimate(session, "appartement", 50, RENNES, TODAY)
        assert (new.basis, new.radius_m) == (basis, radius)
        assert new == by_radius(session, "appartement", 50, RENNES, {})
