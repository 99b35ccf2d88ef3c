"""Synthetic demo agencies, spread like the population. Every row is flagged `is_demo`.

France has about 35,000 agencies; they sit where people live, and denser than people in cities
(weights population^1.1). Each agency is placed at a random point inside its commune. The data is
generated, deterministic for a seed, and named "Démo" so that nobody mistakes it for real.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.contact.validation import luhn_valid
from engine.progress import Progress, quiet

# Radius mix: most agencies keep the default; the rest choose a smaller or larger zone.
DEFAULT_RADIUS_SHARE = 0.7
OTHER_RADII_KM = (5, 10, 15, 25, 30, 40, 50)
EXTENDED_SHARE = 0.85
PAUSED_SHARE = 0.03
DEMO_SIRET_PREFIX = 9  # no real SIREN is issued in this range of our generator


@dataclass(frozen=True)
class CommuneSample:
    codes: list[str]
    names: list[str]
    weights: np.ndarray
    boundaries: list[Any]
    fallback_lon: np.ndarray
    fallback_lat: np.ndarray


def load_commune_sample(session: Session, exponent: float = 1.1) -> CommuneSample:
    rows = session.execute(
        text("""
        SELECT code, name, coalesce(population, 0) AS population, ST_AsBinary(boundary) AS wkb,
               ST_X(town_hall::geometry) AS lon, ST_Y(town_hall::geometry) AS lat
        FROM commune
        -- Paris, Lyon and Marseille are counted by arrondissement.
        WHERE kind = 'ARM' OR code NOT IN ('75056', '69123', '13055')
        ORDER BY code
    """)
    ).all()
    if not rows:
        raise RuntimeError("no communes loaded: run `mandat geodata load` first")
    population = np.array([max(r.population, 1) for r in rows], dtype=float)
    weights = population**exponent
    return CommuneSample(
        codes=[r.code for r in rows],
        names=[r.name for r in rows],
        weights=weights / weights.sum(),
        boundaries=[shapely.from_wkb(r.wkb) if r.wkb else None for r in rows],
        fallback_lon=np.array([r.lon for r in rows]),
        fallback_lat=np.array([r.lat for r in rows]),
    )


def points_like_population(
    sample: CommuneSample, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(commune index, lon, lat) of `count` points drawn by population, inside their commune."""
    picks = rng.choice(len(sample.codes), size=count, p=sample.weights)
    lon = np.empty(count)
    lat = np.empty(count)
    for commune in np.unique(picks):
        where = np.flatnonzero(picks == commune)
        lon[where], lat[where] = _inside(sample, int(commune), len(where), rng)
    return picks, lon, lat


def _inside(
    sample: CommuneSample, commune: int, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    shape = sample.boundaries[commune]
    if shape is None:
        return (
            np.full(count, sample.fallback_lon[commune]),
            np.full(count, sample.fallback_lat[commune]),
        )
    minx, miny, maxx, maxy = shape.bounds
    xs: list[float] = []
    ys: list[float] = []
    for _ in range(50):
        x = rng.uniform(minx, maxx, size=count * 3)
        y = rng.uniform(miny, maxy, size=count * 3)
        keep = shapely.contains_xy(shape, x, y)
        xs.extend(x[keep])
        ys.extend(y[keep])
        if len(xs) >= count:
            return np.array(xs[:count]), np.array(ys[:count])
    point = shape.representative_point()
    return np.full(count, point.x), np.full(count, point.y)


def demo_siret(number: int) -> str:
    """A SIRET with a valid Luhn key, from a range reserved for demo data."""
    body = f"{DEMO_SIRET_PREFIX}{number:012d}"
    return next(body + str(key) for key in range(10) if luhn_valid(body + str(key)))


def seed_agencies(
    session: Session,
    count: int,
    seed: int = 2026,
    if_empty: bool = False,
    progress: Progress | None = None,
) -> int:
    """Creates `count` demo agencies; returns how many were created."""
    if if_empty and session.execute(text("SELECT EXISTS (SELECT 1 FROM agency)")).scalar():
        return 0
    if count <= 0:
        return 0
    rng = np.random.default_rng(seed)
    sample = load_commune_sample(session)
    picks, lon, lat = points_like_population(sample, count, rng)
    radius_km = np.where(
        rng.random(count) < DEFAULT_RADIUS_SHARE, 20, rng.choice(OTHER_RADII_KM, size=count)
    )
    extended = rng.random(count) < EXTENDED_SHARE
    paused = rng.random(count) < PAUSED_SHARE
    first = int(session.execute(text("SELECT count(*) FROM agency WHERE is_demo")).scalar_one())

    session.execute(
        text("CREATE TEMP TABLE new_agency (LIKE agency INCLUDING DEFAULTS) ON COMMIT DROP")
    )
    raw = session.connection().connection.driver_connection
    assert raw is not None
    columns = (
        "name, siret, email, office, office_commune_code, zone_center, radius_m,"
        " accepts_extended_leads, paused, is_demo"
    )
    with (
        raw.cursor().copy(f"COPY new_agency ({columns}) FROM STDIN") as copy,
        (progress or quiet)(range(count), "demo agencies") as indexes,
    ):
        for i in indexes:
            number = first + i + 1
            point = f"SRID=4326;POINT({float(lon[i])!r} {float(lat[i])!r})"
            copy.write_row(
                (
                    f"Démo – Agence {sample.names[picks[i]]} n°{number}",
                    demo_siret(number),
                    f"agence-{number}@demo.mandat.example",
                    point,
                    sample.codes[picks[i]],
                    point,
                    int(radius_km[i]) * 1000,
                    bool(extended[i]),
                    bool(paused[i]),
                    True,
                )
            )
    # Spatially ordered rows make index scans touch fewer pages.
    session.execute(
        text(f"""
        INSERT INTO agency ({columns})
        SELECT {columns} FROM new_agency ORDER BY ST_GeoHash(zone_center::geometry, 8)
    """)
    )
    # A registered address in the office's commune: an invoice names it (billing needs it).
    session.execute(
        text("""
        UPDATE agency a SET registered_street = 'Place de la Mairie', registered_city = c.name,
               registered_postcode = (SELECT min(p.postal_code) FROM postal_code p
                                      WHERE p.commune_code = c.code)
        FROM commune c
        WHERE c.code = a.office_commune_code AND a.is_demo AND a.registered_street IS NULL
    """)
    )
    session.execute(text("ANALYZE agency"))
    return count
