"""Matching reads a few index entries, in a dense city as in the countryside (EXPLAIN)."""

from __future__ import annotations

import json
import re

import pytest
from psycopg import sql
from sqlalchemy import text

from engine.demo.seed import seed_agencies
from engine.geo.locate import locate
from engine.matching.service import EXTENDED, IN_ZONE, MAX_RADIUS_M, scan_sizes


@pytest.fixture(scope="module")
def crowded(owner_database_url: str):  # type: ignore[no-untyped-def]
    """20,000 agencies spread like the population: over a thousand cover central Paris.

    Seeded once for this module, whose tests only read, as `mandat demo seed` does it: as the
    schema's owner, who may empty the table and refresh its statistics.
    """
    from engine.db import unit_of_work

    with unit_of_work(owner_database_url) as session:
        session.execute(text("TRUNCATE agency CASCADE"))
        seed_agencies(session, 20_000, seed=7)
    with unit_of_work() as session:
        yield session


def plan(session, query: str, place, bound_m: int) -> dict:  # type: ignore[no-untyped-def]
    raw = session.connection().connection.driver_connection
    params = {
        "point": place.ewkt,
        "bound_m": bound_m,
        "exclude": [],
        "scan": scan_sizes(10)[0],
        "limit": 10,
        "communes": list(place.commune_codes),
        "reach": "zone",
    }
    row = raw.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, params).fetchone()[0]
    return (row if isinstance(row, list) else json.loads(row))[0]


def nodes(node: dict) -> list[dict]:  # type: ignore[type-arg]
    return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]


def test_in_a_dense_city_the_zone_search_stops_after_a_few_dozen_index_entries(crowded) -> None:
    place = locate(crowded, "75004", "Paris")
    covering = crowded.execute(
        text(
            "SELECT count(*) FROM agency a WHERE ST_DWithin(a.zone_center, "
            "CAST(:p AS geography), a.radius_m)"
        ),
        {"p": place.ewkt},
    ).scalar_one()

    explained = plan(crowded, IN_ZONE, place, MAX_RADIUS_M)
    scans = agency_scans(explained)

    assert covering > 1_000
    assert [s["Node Type"] for s in scans] == ["Index Scan"]
    assert scans[0]["Index Name"] == "ix_agency_zone_center"
    assert "<->" in scans[0]["Order By"]
    # The LIMIT, not the thousand covering agencies.
    assert scans[0]["Actual Rows"] <= scan_sizes(10)[0]


@pytest.mark.parametrize(
    ("postal_code", "city"),
    [("75004", "Paris"), ("48000", "Mende"), ("97400", "Saint-Denis"), ("97300", "Cayenne")],
)
@pytest.mark.parametrize(
    ("query", "bound_m"), [(IN_ZONE, MAX_RADIUS_M), (EXTENDED, 30_000), (EXTENDED, 50_000)]
)
def test_every_search_is_bounded_by_the_spatial_index_never_a_table_scan(
    crowded, postal_code: str, city: str, query, bound_m: int
) -> None:
    place = locate(crowded, postal_code, city)

    explained = plan(crowded, query, place, bound_m)
    every = nodes(explained["Plan"])

    assert not [n for n in every if n["Node Type"] == "Seq Scan"]
    assert "ix_agency_zone_center" in {n.get("Index Name") for n in every}


def agency_scans(explained: dict) -> list[dict]:  # type: ignore[type-arg]
    """The scans of the nearest-neighbour search (not the commune-list join)."""
    return [n for n in nodes(explained["Plan"]) if n.get("Index Name") == "ix_agency_zone_center"]


def test_the_prepared_generic_plan_is_the_same_ordered_index_scan(crowded) -> None:
    """Sessions run prepared statements with generic plans (the database's plan_cache_mode,
    migration 0025)."""
    place = locate(crowded, "75004", "Paris")
    raw = crowded.connection().connection.driver_connection
    names: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        return names.setdefault(match.group(1), f"${len(names) + 1}")

    statement = re.sub(r"%\((\w+)\)s", number, IN_ZONE)
    types = {
        "point": "text",
        "bound_m": "float8",
        "exclude": "uuid[]",
        "scan": "bigint",
        "reach": "text",
        "communes": "text[]",
        "limit": "bigint",
    }
    raw.execute(f"PREPARE generic_match ({', '.join(types[n] for n in names)}) AS {statement}")
    values = {
        "point": sql.Literal(place.ewkt),
        "bound_m": sql.SQL("50000"),
        "exclude": sql.SQL("'{}'"),
        "scan": sql.SQL(str(scan_sizes(10)[0])),
        "reach": sql.SQL("'zone'"),
        "communes": sql.SQL("'{75104}'"),
        "limit": sql.SQL("10"),
    }
    explain = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE generic_match ({})").format(
        sql.SQL(", ").join(values[n] for n in names)
    )
    explained = raw.execute(explain).fetchone()[0][0]
    raw.execute("DEALLOCATE generic_match")

    scans = agency_scans(explained)
    assert scans[0]["Node Type"] == "Index Scan"
    assert "<->" in scans[0]["Order By"]
    assert scans[0]["Actual Rows"] <= scan_sizes(10)[0]
