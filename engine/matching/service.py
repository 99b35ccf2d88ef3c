"""`match_lead`: the agencies whose zone covers a lead, ranked, with how each was reached.

Every query is a nearest-neighbour scan of the GiST index on `agency.zone_center`, bounded by a
maximum distance and cut by a LIMIT, so a lead in central Paris (thousands of covering agencies)
and one in empty countryside both read a few dozen index entries. The per-agency radius is a
filter on those rows, never the index condition (a per-row distance defeats the index).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import TextClause, text
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
SCAN_FACTOR = 3

_ELIGIBLE = "a.status = 'active' AND NOT a.paused"

# The `:scan` nearest eligible agencies (sphere order, straight from the GiST index, inside the
# box around the point that holds everything within :bound_m), then those that pass :covering.
# Exact distance tests stay outside the nearest-neighbour scan on purpose: inside it the planner
# cannot estimate how many rows they keep, and trades the ordered index scan for a bitmap scan
# and a sort of every agency in the box (thousands around Paris). `scanned` and `last_sphere_m`
# describe the scan so that the caller can prove the answer complete.
_NEAREST = """
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
        SELECT count(*) AS scanned, max(sphere_m) AS last_sphere_m FROM near
    )
    SELECT near.id, near.name, near.sphere_m,
           ST_Distance(near.zone_center, CAST(:point AS geography)) AS distance_m,
           seen.scanned, seen.last_sphere_m
    FROM seen LEFT JOIN near ON {covering}
    ORDER BY near.sphere_m
"""

# Agencies whose zone (centre + own radius) covers the point.
_COVERING = text(
    _NEAREST.format(
        eligible=_ELIGIBLE,
        covering="ST_DWithin(near.zone_center, CAST(:point AS geography), near.radius_m)",
    )
)

# Agencies that accept extended leads, with their centre within :bound_m of the point.
_EXTENDED = text(
    _NEAREST.format(
        eligible=f"{_ELIGIBLE} AND a.accepts_extended_leads",
        covering="ST_DWithin(near.zone_center, CAST(:point AS geography), :bound_m)",
    )
)

# Agencies that list the lead's commune (or, for an arrondissement, its city), at any distance.
_BY_COMMUNE = text(f"""
    SELECT DISTINCT a.id, a.name,
           ST_Distance(a.zone_center, CAST(:point AS geography)) AS distance_m
    FROM agency_commune ac JOIN agency a ON a.id = ac.agency_id
    WHERE ac.commune_code = ANY(:communes) AND {_ELIGIBLE}
""")


def match_lead(
    session: Session, place: Place, rules: MatchingRules | None = None
) -> list[Candidate]:
    """The candidates for a lead at `place`, nearest first, at most `max_named_agencies`.

    PRODUCT §3: in zone (radius or commune list); when fewer than `min_candidates`, extended to
    agencies accepting it within each extension step (30 km, then 50 km).
    """
    rules = rules or matching_rules(session)
    wanted = max(rules.max_named_agencies, rules.min_candidates)
    point = place.ewkt

    in_zone = merge(
        _nearest(session, _COVERING, point, MAX_RADIUS_M, wanted, "zone", ()),
        _by_commune(session, point, place.commune_codes),
    )
    found = in_zone
    for step_m in rules.extension_steps_m:
        if len(found) >= rules.min_candidates:
            break
        exclude = [c.agency_id for c in found]
        found = merge(
            found,
            _nearest(session, _EXTENDED, point, step_m, wanted, extension_reach(step_m), exclude),
        )
    return ranked(found, rules.max_named_agencies)


def _nearest(
    session: Session,
    query: TextClause,
    point: str,
    bound_m: int,
    limit: int,
    reach: str,
    exclude: Sequence[uuid.UUID],
) -> list[Candidate]:
    """The `limit` nearest rows of `query` by spheroid distance, exactly.

    The index hands agencies over in sphere order; we read a few dozen and keep the covering
    ones. When that read cannot prove the `limit` nearest by the spheroid (rare: a sparse area
    crowded with small zones), we read every agency within the bound instead.
    """
    params: dict[str, object] = {"point": point, "bound_m": bound_m, "exclude": list(exclude)}
    scan = SCAN_FACTOR * limit + 4
    rows = session.execute(query, {**params, "scan": scan}).all()
    scanned, last_sphere_m = rows[0].scanned, rows[0].last_sphere_m or 0.0
    found = [r for r in rows if r.id is not None]
    if not knn_fetch_is_exact(
        [r.distance_m for r in found], last_sphere_m, limit, fetched_all=scanned < scan
    ):
        rows = session.execute(query, {**params, "scan": None}).all()
        found = [r for r in rows if r.id is not None]
    candidates = [Candidate(r.id, r.name, r.distance_m, reach) for r in found]
    return ranked(candidates, limit)


def _by_commune(session: Session, point: str, communes: tuple[str, ...]) -> list[Candidate]:
    rows = session.execute(_BY_COMMUNE, {"point": point, "communes": list(communes)}).all()
    return [Candidate(r.id, r.name, r.distance_m, "communes") for r in rows]
