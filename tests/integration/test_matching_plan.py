"""Matching reads a few index entries, in a dense city as in the countryside (EXPLAIN)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from engine.demo.seed import seed_agencies
from engine.geo.locate import locate
from engine.matching.service import _COVERING, _EXTENDED, MAX_RADIUS_M


@pytest.fixture(scope="module")
def crowded(database_url: str):  # type: ignore[no-untyped-def]
    """20,000 agencies spread like the population: over a thousand cover central Paris.

    Seeded once for this module, whose tests only read.
    """
    from engine.db import unit_of_work

    with unit_of_work() as session:
        session.execute(text("TRUNCATE agency CASCADE"))
        seed_agencies(session, 20_000, seed=7)
    with unit_of_work() as session:
        yield session


def plan(session, query, place, bound_m: int) -> dict:  # type: ignore[no-untyped-def]
    row = session.execute(
        text("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query.text),
        {"point": place.ewkt, "bound_m": bound_m, "exclude": [], "scan": 34},
    ).scalar_one()
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

    explained = plan(crowded, _COVERING, place, MAX_RADIUS_M)
    scans = agency_scans(explained)

    assert covering > 1_000
    assert [s["Node Type"] for s in scans] == ["Index Scan"]
    assert scans[0]["Index Name"] == "ix_agency_zone_center"
    assert "<->" in scans[0]["Order By"]
    assert scans[0]["Actual Rows"] <= 34  # the LIMIT, not the thousand covering agencies


@pytest.mark.parametrize(
    ("postal_code", "city"),
    [("75004", "Paris"), ("48000", "Mende"), ("97400", "Saint-Denis"), ("97300", "Cayenne")],
)
@pytest.mark.parametrize(
    ("query", "bound_m"), [(_COVERING, MAX_RADIUS_M), (_EXTENDED, 30_000), (_EXTENDED, 50_000)]
)
def test_every_search_is_bounded_by_the_spatial_index_never_a_table_scan(
    crowded, postal_code: str, city: str, query, bound_m: int
) -> None:
    place = locate(crowded, postal_code, city)

    explained = plan(crowded, query, place, bound_m)
    types = [n["Node Type"] for n in nodes(explained["Plan"])]
    index_nodes = [n for n in nodes(explained["Plan"]) if n.get("Index Name")]

    assert "Seq Scan" not in types
    assert [n["Index Name"] for n in index_nodes] == ["ix_agency_zone_center"]


def agency_scans(explained: dict) -> list[dict]:  # type: ignore[type-arg]
    return [n for n in nodes(explained["Plan"]) if n.get("Relation Name") == "agency"]
