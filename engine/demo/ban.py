"""A synthetic Base Adresse Nationale for the demo: a file in the published layout, imported by
the real importer and flagged `synthetic`.

Around the town hall of each demo commune, streets with names common all over France run
outwards like spokes; numbers go up every 15 m, odd on one side and even on the other, some
followed by a bis or a ter a few metres further. A few lieux-dits have numbered houses, one only
a place name (the BAN's number 99999), and one is a complement (`nom_ld`) of a road's addresses.
Nothing here is a real address: the names exist, not these points.
"""

from __future__ import annotations

import csv
import gzip
import math
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.geo.ban import LAYOUT, NO_NUMBER, BanImportReport, import_ban
from engine.geo.street_names import street_key

STREETS = (
    "Rue de la République", "Boulevard Voltaire", "Avenue Jean Jaurès", "Rue Victor Hugo",
    "Place de la Mairie", "Rue Pasteur", "Rue du Général de Gaulle", "Allée des Tilleuls",
    "Impasse des Lilas", "Chemin du Moulin", "Rue Saint-Michel", "Avenue du Maréchal Foch",
    "Rue de l'Église", "Quai des Bateliers", "Rue Sainte-Anne", "Boulevard du Président Wilson",
    "Rue du Docteur Roux", "Cours Notre-Dame", "Route de la Gare", "Square des Acacias",
)  # fmt: skip
LIEUX_DITS = ("Le Bourg", "La Croix Verte", "Les Hauts Champs")
LIEU_DIT_ONLY = "Le Moulin Neuf"  # a place name without numbers
COMPLEMENT = ("Route de la Gare", "La Ville Aux Roux")  # addresses of the road also named so
# The demo's cities: the central commune or arrondissement of the largest ones, and Rennes.
DEMO_COMMUNES = (
    "75104", "75111", "13201", "69381", "31555", "06088", "44109", "34172", "67482", "33063",
    "59350", "35238",
)  # fmt: skip
STEP_M = 15.0
FIRST_M = 120.0
SIDE_M = 8.0
BIS_EVERY, TER_EVERY = 7, 13


@dataclass(frozen=True)
class Town:
    code: str
    name: str
    postal_code: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Address:
    id: str
    town: Town
    street: str
    number: int | None
    rep: str
    lon: float
    lat: float
    lieu_dit: str = ""


def towns(session: Session, codes: tuple[str, ...] | list[str]) -> list[Town]:
    """The communes given, with their first postal code and their town hall."""
    rows = session.execute(
        text("""
            SELECT c.code, c.name, min(p.postal_code) AS postal_code,
                   ST_X(c.town_hall::geometry) AS lon, ST_Y(c.town_hall::geometry) AS lat
            FROM commune c JOIN postal_code p ON p.commune_code = c.code
            WHERE c.code = ANY(:codes) GROUP BY c.code ORDER BY c.code
        """),
        {"codes": list(codes)},
    ).all()
    return [Town(r.code, r.name, r.postal_code, r.lon, r.lat) for r in rows]


def _moved(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    metres_per_degree = 111_320.0
    return (
        round(lon + east_m / (metres_per_degree * math.cos(math.radians(lat))), 7),
        round(lat + north_m / metres_per_degree, 7),
    )


def addresses(town: Town, numbers_per_street: int) -> list[Address]:
    """Every address point of a town: its streets and lieux-dits, numbered."""
    names = STREETS + LIEUX_DITS
    result: list[Address] = []
    for s, name in enumerate(names):
        angle = 2 * math.pi * s / len(names)
        along = (math.cos(angle), math.sin(angle))
        across = (-along[1], along[0])
        complement = COMPLEMENT[1] if name == COMPLEMENT[0] else ""
        for number in range(1, numbers_per_street + 1):
            distance = FIRST_M + STEP_M * (number - 1)
            side = SIDE_M if number % 2 else -SIDE_M
            reps = [("", 0.0)]
            if number % BIS_EVERY == 0:
                reps.append(("bis", 5.0))
            if number % TER_EVERY == 0:
                reps.append(("ter", 10.0))
            for rep, further in reps:
                east = along[0] * (distance + further) + across[0] * side
                north = along[1] * (distance + further) + across[1] * side
                lon, lat = _moved(town.lon, town.lat, east, north)
                suffix = f"_{rep}" if rep else ""
                ban_id = f"{town.code}_{s:04d}_{number:05d}{suffix}"
                result.append(Address(ban_id, town, name, number, rep, lon, lat, complement))
    lon, lat = _moved(town.lon, town.lat, -FIRST_M * 3, FIRST_M * 4)
    result.append(Address(f"{town.code}_9999_99999", town, LIEU_DIT_ONLY, None, "", lon, lat))
    return result


def write_ban(path: Path, rows: list[Address], gz: bool = True) -> Path:
    """The addresses as a BAN file in the published layout (semicolon-separated, UTF-8)."""
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\n")
        writer.writerow(LAYOUT)
        for a in rows:
            writer.writerow(
                [
                    a.id, a.id.rsplit("_", 1 + bool(a.rep))[0], a.number or NO_NUMBER, a.rep,
                    a.street, a.town.postal_code, a.town.code, a.town.name, "", "", "", "",
                    a.lon, a.lat, "entrée", "", a.lieu_dit, a.town.name.upper(),
                    street_key(a.street).upper(), "commune", "commune", "0", "",
                ]
            )  # fmt: skip
    return path


def seed_ban(
    session: Session, directory: Path, numbers_per_street: int = 25, if_empty: bool = False
) -> BanImportReport | None:
    """Writes the demo communes' synthetic addresses, one file per département as the BAN
    publishes them, and imports them flagged synthetic."""
    if if_empty and session.execute(text("SELECT EXISTS (SELECT 1 FROM ban_address)")).scalar():
        return None
    by_departement: dict[str, list[Address]] = {}
    for town in towns(session, DEMO_COMMUNES):
        by_departement.setdefault(town.code[:2], []).extend(addresses(town, numbers_per_street))
    files = [
        write_ban(directory / f"adresses-{departement}.csv.gz", rows)
        for departement, rows in sorted(by_departement.items())
    ]
    return import_ban(session, files, synthetic=True)
