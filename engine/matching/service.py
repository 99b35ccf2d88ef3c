"""`match_lead`: the agencies whose zone covers a lead, ranked, with how each was reached.

Every search is a nearest-neighbour scan of the GiST index on `agency.zone_center`, inside the
box that holds every centre within a bound, cut by a LIMIT: a lead in central Paris (thousands of
covering agencies) and one in empty countryside both read a few dozen index entries. The
per-agency radius is tested on those rows, never in the index condition (a per-row distance
defeats the index). A lead that enough agencies cover costs one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, TextClause, text
from sqlalchemy.orm import Session

from engine.geo.locate import Place
from engine.matching.rules import (
    Candidate,
    extension_reach,
    knn_fetch_is_exact,
    merge,
    ranked,
)
from engine.settings import MatchingRules, matching_rules

# The largest radius the schema allows (agency.ck_agency_radius_range): the zone search bound.
MAX_RADIUS_M = 50_000
# How many nearest agencies one scan reads per candidate wanted.
SCAN_FACTOR = 2

_ELIGIBLE = "a.status = 'active' AND NOT a.paused"

# `near`: the :scan nearest eligible agencies in sphere order, straight from the GiST index,
# inside the box around the point that holds every centre within :bound_m. Exact distance tests
# stay outside this scan on purpose: inside it the planner cannot estimate how many rows they
# keep, and trades the ordered index scan for a bitmap scan and a sort of every agency in the box
# (thousands around Paris). `seen` describes the scan so that the caller can prove the answer
# complete; `listed` adds the agencies that name the lead's commune in their list.
_SEARCH = """
    WITH near AS MATERIALIZED (
        SELECT a.id, a.name, a.zone_center, a.radius_m,
               a.zone_center <-> CAST(:point AS geography) AS sphere_m
        FROM agency a
        WHERE {eligible}
          AND a.zone_center && _ST_Expand(CAST(:point AS geography), :bound_m)
          AND a.id <> ALL(CAST(:exclude AS uuid[]))
        ORDER BY a.zone_center <-> CAST(:point AS geography)
        LIMIT :scan
    ), seen AS (
        SELECT count(*) AS scanned, coalesce(max(sphere_m), 0) AS last_sphere_m FROM near
    ), found AS (
        SELECT near.id, near.name, near.sphere_m,
               ST_Distance(near.zone_center, CAST(:point AS geography)) AS distance_m,
               CAST(:reach AS text) AS reach
        FROM near
        WHERE {within}
        {listed}
    )
    SELECT seen.scanned, seen.last_sphere_m, found.*
    FROM seen LEFT JOIN found ON true
"""

_LISTED = f"""
        UNION ALL
        SELECT DISTINCT a.id, a.name, CAST(NULL AS float8),
               ST_Distance(a.zone_center, CAST(:point AS geography)),
               'communes'
        FROM agency_commune ac JOIN agency a ON a.id = ac.agency_id
        WHERE ac.commune_code = ANY(CAST(:communes AS text[])) AND {_ELIGIBLE}
"""

# In zone: the agency's own radius covers the point, or its commune list names the commune.
_IN_ZONE = text(
    _SEARCH.format(
        eligible=_ELIGIBLE,
        within="ST_DWithin(near.zone_center, CAST(:point AS geography), near.radius_m)",
        listed=_LISTED,
    )
)

# Extension: agencies accepting extended leads with their centre within :bound_m of the point.
_EXTENDED = text(
    _SEARCH.format(
        eligible=f"{_ELIGIBLE} AND a.accepts_extended_leads",
        within="ST_DWithin(near.zone_center, CAST(:point AS geography), :bound_m)",
        listed="",
    )
)


def match_lead(
    session: Session, place: Place, rules: MatchingRules | None = None
) -> list[Candidate]:
    """The candidates for a lead at `place`, nearest first, at most `max_named_agencies`.

    PRODUCT §3: in zone (radius or commune list); when fewer than `min_candidates`, extended to
    agencies accepting it within each extension step (30 km, then 50 km).
    """
    rules = rules or matching_rules(session)
    wanted = max(rules.max_named_agencies, rules.min_candidates)
    params = {"point": place.ewkt, "communes": list(place.commune_codes), "exclude": []}

    found = _search(session, _IN_ZONE, {**params, "bound_m": MAX_RADIUS_M, "reach": "zone"}, wanted)
    for step_m in rules.extension_steps_m:
        if len(found) >= rules.min_candidates:
            break
        extension = {
            **params,
            "bound_m": step_m,
            "reach": extension_reach(step_m),
            "exclude": [c.agency_id for c in found],
        }
        found = merge(found, _search(session, _EXTENDED, extension, wanted))
    return ranked(found, rules.max_named_agencies)


def _search(
    session: Session, query: TextClause, params: dict[str, Any], limit: int
) -> list[Candidate]:
    """The `limit` nearest scanned agencies by spheroid distance, exactly, plus listed ones.

    The index hands agencies over in sphere order; we read a few dozen and keep those within
    reach. When that read cannot prove the `limit` nearest by the spheroid (rare: a sparse area
    crowded with small zones), we read every agency within the bound instead.
    """
    scan = SCAN_FACTOR * limit + 4
    rows = session.execute(query, {**params, "scan": scan}).all()
    scanned = [r for r in rows if r.id is not None and r.sphere_m is not None]
    if not knn_fetch_is_exact(
        [r.distance_m for r in scanned],
        rows[0].last_sphere_m,
        limit,
        fetched_all=rows[0].scanned < scan,
    ):
        rows = session.execute(query, {**params, "scan": None}).all()
        scanned = [r for r in rows if r.id is not None and r.sphere_m is not None]
    listed = [r for r in rows if r.id is not None and r.sphere_m is None]
    return merge(ranked(_candidates(scanned), limit), _candidates(listed))


def _candidates(rows: Sequence[Row[Any]]) -> list[Candidate]:
    return [Candidate(r.id, r.name, r.distance_m, r.reach) for r in rows]


__all__ = ["MAX_RADIUS_M", "match_lead"]
