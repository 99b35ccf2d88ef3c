"""The postal codes and their communes, held in each process (the gazetteer), and the communes
a postal code serves (the form's city suggestions).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

POSTAL_CODE = re.compile(r"^\d{5}$")


@dataclass(frozen=True)
class Commune:
    """What `locate` needs of a commune, read once per process (`Gazetteer`)."""

    code: str
    name: str
    search_name: str
    departement_code: str
    parent_code: str | None
    lon: float
    lat: float
    former_names: tuple[str, ...]


@dataclass(frozen=True)
class Gazetteer:
    """The postal codes and their communes (most populated first), held in each process: placing
    a property at its town hall costs no round trip. `version` is the communes dataset loaded
    (`dataset_load`); a step that sees another version loads them again."""

    version: str | None
    communes: dict[str, tuple[Commune, ...]]  # by postal code
    arrondissements: dict[str, tuple[str, ...]]  # a city's arrondissements, by the city's code


DATASET_VERSION = "SELECT version FROM dataset_load WHERE name = 'communes'"

_GAZETTEER = text("""
    SELECT p.postal_code, c.code, c.name, c.search_name, c.departement_code, c.parent_code,
           ST_X(c.town_hall::geometry) AS lon, ST_Y(c.town_hall::geometry) AS lat,
           (SELECT coalesce(array_agg(a.search_name), '{}') FROM commune_alias a
            WHERE a.commune_code = c.code) AS former_names
    FROM postal_code p
    JOIN commune c ON c.code = p.commune_code
    ORDER BY p.postal_code, c.population DESC NULLS LAST, c.code
""")

_ARRONDISSEMENTS = text(
    "SELECT parent_code, code FROM commune WHERE parent_code IS NOT NULL ORDER BY code"
)

_gazetteers: dict[str, Gazetteer] = {}
_loading = threading.Lock()


def gazetteer(session: Session, unless_version: object = ...) -> Gazetteer:
    """This process's gazetteer of the session's database, loaded on first use, and again when
    `unless_version` (the version just read from `dataset_load`) is not the one held."""
    key = str(session.get_bind().engine.url)
    held = _gazetteers.get(key)
    if held is not None and (unless_version is ... or unless_version == held.version):
        return held
    with _loading:
        held = _gazetteers.get(key)
        if held is None or (unless_version is not ... and unless_version != held.version):
            held = _load(session)
            _gazetteers[key] = held
    return held


def _load(session: Session) -> Gazetteer:
    version = session.execute(text(DATASET_VERSION)).scalar_one_or_none()
    communes: dict[str, list[Commune]] = {}
    for (
        postal_code,
        code,
        name,
        search_name,
        departement,
        parent,
        lon,
        lat,
        former,
    ) in session.execute(_GAZETTEER).tuples():
        commune = Commune(code, name, search_name, departement, parent, lon, lat, tuple(former))
        communes.setdefault(postal_code, []).append(commune)
    arrondissements: dict[str, list[str]] = {}
    for parent, code in session.execute(_ARRONDISSEMENTS).tuples():
        arrondissements.setdefault(parent, []).append(code)
    return Gazetteer(
        version,
        {k: tuple(v) for k, v in communes.items()},
        {k: tuple(v) for k, v in arrondissements.items()},
    )


_COMMUNES_FOR_POSTAL_CODE = text("""
    SELECT c.code, c.name
    FROM postal_code p JOIN commune c ON c.code = p.commune_code
    WHERE p.postal_code = :postal_code
    ORDER BY c.population DESC NULLS LAST, c.name
""")


def communes_for_postal_code(session: Session, postal_code: str) -> list[tuple[str, str]]:
    """(code, name) of the communes a postal code serves, most populated first: what the form
    suggests as cities. Empty for a code that is not five digits or serves none."""
    code = postal_code.strip()
    if not POSTAL_CODE.match(code):
        return []
    rows = session.execute(_COMMUNES_FOR_POSTAL_CODE, {"postal_code": code}).tuples().all()
    return [(c, n) for c, n in rows]
