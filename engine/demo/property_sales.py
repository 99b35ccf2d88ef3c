"""Synthetic property sales (the DVF's comparables, not leads sold), written as a DVF file and
imported by the real importer.

Generated, deterministic for a seed, flagged `synthetic` everywhere they show (an estimate made
from them says so, and is never more than medium confidence). Prices follow a log-normal model
calibrated on the public anchors of `data/price_anchors.csv` (each row names its source): the
big cities' medians per type (2025 orders of magnitude) pin their communes and arrondissements;
elsewhere, the national 10th and 90th percentiles of €/m² per type set the spread, population
density explains part of it, and each commune gets its own draw of the rest, kept within those
percentiles, so that no unanchored town outprices the anchored cities (a flat in a dense town is
never dearer per m² than a house in Paris). A sale then varies around its commune's median as
sales do within a few streets. Sales are placed like the population, dated within the last
three years; houses sometimes come with an outbuilding and a second parcel, so that the
importer's grouping is exercised.
"""

from __future__ import annotations

import csv
import gzip
import math
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.demo.seed import load_commune_sample, points_like_population
from engine.estimation.dvf import LAYOUT, ImportReport, import_dvf
from engine.progress import Progress

ANCHORS = Path(__file__).parent / "data" / "price_anchors.csv"
Z90 = 1.2816  # standard normal 90th percentile
DENSITY_SHARE = 0.6  # of the communes' log-price variance explained by density
LOCAL_SIGMA = 0.15  # a sale's log-price spread around its commune's median (≈ ±10 % IQR)
HEADER = LAYOUT


Spread = dict[str, tuple[float, float, float, float]]


def price_model() -> tuple[Spread, dict[tuple[str, str], float]]:
    """({type: (log median, log sigma, log p10, log p90)}, {(city INSEE code, type): median
    €/m²})."""
    with ANCHORS.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    spread: Spread = {}
    for kind in ("maison", "appartement"):
        p10, p90 = (
            math.log(float(next(r["eur_per_m2"] for r in rows
                                if r["anchor"] == "france" and r["property_type"] == kind
                                and r["statistic"] == s)))
            for s in ("p10", "p90")
        )  # fmt: skip
        spread[kind] = ((p10 + p90) / 2, (p90 - p10) / (2 * Z90), p10, p90)
    cities = {
        (r["anchor"], r["property_type"]): float(r["eur_per_m2"])
        for r in rows
        if r["statistic"] == "median"
    }
    return spread, cities


def commune_median(
    kind: str,
    anchor: float | None,
    density_z: float,
    own_z: float,
    spread: Spread,
) -> float:
    """A commune's median €/m² for a type: its city's anchor, or the national model for its
    density and its own draw, within the national 10th–90th percentiles."""
    if anchor:
        return anchor
    log_median, sigma, log_p10, log_p90 = spread[kind]
    value = log_median + sigma * (
        math.sqrt(DENSITY_SHARE) * density_z + math.sqrt(1 - DENSITY_SHARE) * own_z
    )
    return math.exp(min(max(value, log_p10), log_p90))


def _densities(session: Session, codes: list[str]) -> np.ndarray:
    rows = dict(
        session.execute(
            text("""
        SELECT code, coalesce(population, 0) / greatest(ST_Area(boundary::geography) / 1e6, 0.01)
        FROM commune WHERE boundary IS NOT NULL""")
        )
        .tuples()
        .all()
    )
    return np.array([max(float(rows.get(code, 50.0)), 1.0) for code in codes])


def write_property_sales(session: Session, count: int, path: Path, seed: int, today: date) -> Path:
    rng = np.random.default_rng(seed)
    sample = load_commune_sample(session, exponent=1.0)
    picks, lon, lat = points_like_population(sample, count, rng)
    departement: dict[str, str] = {}
    parent: dict[str, str | None] = {}
    for code, dep, city in session.execute(
        text("SELECT code, departement_code, parent_code FROM commune")
    ):
        departement[code], parent[code] = dep, city
    log_density = np.log(_densities(session, sample.codes))[picks]
    z = (log_density - log_density.mean()) / max(log_density.std(), 1e-9)
    houses = rng.random(count) < 1 / (1 + np.exp(1.5 * z))  # the denser, the fewer houses
    spread, cities = price_model()
    own = {kind: rng.normal(0, 1, size=len(sample.codes)) for kind in spread}
    days = rng.integers(0, 3 * 365, size=count)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(count):
            kind = "maison" if houses[i] else "appartement"
            code = sample.codes[picks[i]]
            median = commune_median(
                kind,
                cities.get((parent.get(code) or code, kind)),
                float(z[i]),
                float(own[kind][picks[i]]),
                spread,
            )
            log_price = math.log(median) + rng.normal(0, LOCAL_SIGMA)
            surface = round(float(rng.lognormal(math.log(100 if houses[i] else 55), 0.35)))
            surface = max(surface, 9)
            price = round(math.exp(log_price) * surface, -2)
            sold = today - timedelta(days=int(days[i]))
            mutation = f"DEMO-{sold.year}-{i + 1:08d}"
            parcel = f"{code}000ZZ{i % 10_000:04d}"
            located = rng.random() > 0.03
            base = dict.fromkeys(HEADER, "")
            base.update({
                "id_mutation": mutation, "date_mutation": sold.isoformat(),
                "numero_disposition": "000001", "nature_mutation": "Vente",
                "valeur_fonciere": f"{price:.2f}", "code_commune": code,
                "nom_commune": sample.names[picks[i]], "code_departement": departement[code],
                "id_parcelle": parcel,
                "longitude": f"{lon[i]:.6f}" if located else "",
                "latitude": f"{lat[i]:.6f}" if located else "",
            })  # fmt: skip
            dwelling = {
                **base,
                "code_type_local": "1" if houses[i] else "2",
                "type_local": "Maison" if houses[i] else "Appartement",
                "surface_reelle_bati": str(surface),
                "nombre_pieces_principales": str(max(1, round(surface / 22))),
            }
            rows = [dwelling]
            if houses[i]:
                land = str(int(rng.lognormal(math.log(600), 0.8)))
                dwelling.update(
                    {"code_nature_culture": "S", "nature_culture": "sols", "surface_terrain": land}
                )
                if rng.random() < 0.4:
                    rows.append(
                        {
                            **dwelling,
                            "code_type_local": "3",
                            "type_local": "Dépendance",
                            "surface_reelle_bati": "",
                            "nombre_pieces_principales": "0",
                        }
                    )
                    rows.append(
                        {
                            **base,
                            "id_parcelle": parcel[:-4] + "9999",
                            "code_nature_culture": "J",
                            "nature_culture": "jardins",
                            "surface_terrain": str(int(rng.integers(50, 500))),
                        }
                    )
            writer.writerows([r[c] for c in HEADER] for r in rows)
    return path


def seed_property_sales(
    session: Session,
    count: int,
    seed: int = 2026,
    today: date | None = None,
    if_empty: bool = False,
    progress: Progress | None = None,
) -> ImportReport | None:
    """Generates `count` synthetic property sales and imports them (source `demo`); None when
    skipped."""
    if (
        if_empty
        and session.execute(
            text("SELECT EXISTS (SELECT 1 FROM comparable_sale WHERE source = 'demo')")
        ).scalar()
    ):
        return None
    if count <= 0:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = write_property_sales(
            session, count, Path(folder) / "demo-dvf.csv.gz", seed, today or date.today()
        )
        return import_dvf(session, [path], source="demo", synthetic=True, progress=progress)
