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

_ELIGIBLE = "a.status = 'active' AND NOT a.paused"

# Agencies whose zone covers the point, in index (sphere) order, with their spheroid distance.
_COVERING = text(f"""
    SELECT a.id, a.name,
           ST_Distance(a.zone_center, CAST(:point AS geography)) AS distance_m,
           a.zone_center <-> CAST(:point AS geography) AS sphere_m
    FROM agency a
    WHERE {_ELIGIBLE}
      AND ST_DWithin(a.zone_center, CAST(:point AS geography), :bound_m)
      AND ST_DWithin(a.zone_center, CAST(:point AS geography), a.radius_m)
      AND a.id <> ALL(CAST(:exclude AS uuid[]))
    ORDER BY a.zone_center <-> CAST(:point AS geography)
    LIMIT :fetch
""")

# Agencies that accept extended leads, with their centre within :bound_m of the point.
_EXTENDED = text(f"""
    SELECT a.id, a.name,
           ST_Distance(a.zone_center, CAST(:point AS geography)) AS distance_m,
           a.zone_center <-> CAST(:point AS geography) AS sphere_m
    FROM agency a
    WHERE {_ELIGIBLE} AND a.accepts_extended_leads
      AND ST_DWithin(a.zone_center, CAST(:point AS geography), :bound_m)
      AND a.id <> ALL(CAST(:exclude AS uuid[]))
    ORDER BY a.zone_center <-> CAST(:point AS geography)
    LIMIT :fetch
""")

# Agencies that list the lead's commune (or, for an arrondissement, its city), at any distance.
_BY_COMMUNE = text(f"""
    SELECT DISTINCT a.id, a.name, ST_Distance(a.zone_center, CAST(:point AS geography)) AS distance_m
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

    The index orders by sphere distance; we fetch a margin more than needed and, in the rare case
    that the margin cannot prove the spheroid order, fetch everything within the proven bound.
    """
    params: dict[str, object] = {"point": point, "bound_m": bound_m, "exclude": list(exclude)}
    fetch = 2 * limit + 4
    rows = session.execute(query, {**params, "fetch": fetch}).all()
    fetched_all = len(rows) < fetch
    exact = knn_fetch_is_exact(
        [r.distance_m for r in rows], rows[-1].sphere_m if rows else 0.0, limit, fetched_all
    )
    if not exact:
        kth = sorted(r.distance_m for r in rows)[limit - 1]
        # Every row within the k-th spheroid distance, whatever its sphere rank (ST_DWithin on
        # geography is a spheroid test).
        params["bound_m"] = min(bound_m, kth + 0.01)
        rows = session.execute(query, {**params, "fetch": None}).all()
    candidates = [Candidate(r.id, r.name, r.distance_m, reach) for r in rows]
    return ranked(candidates, limit)


def _by_commune(session: Session, point: str, communes: tuple[str, ...]) -> list[Candidate]:
    rows = session.execute(_BY_COMMUNE, {"point": point, "communes": list(communes)}).all()
    return [Candidate(r.id, r.name, r.distance_m, "communes") for r in rows]
