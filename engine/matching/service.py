"""`match_lead`: the agencies whose zone covers a lead, ranked, with how each was reached.

Every search is a nearest-neighbour scan of the GiST index on `agency.zone_center`, inside the
box that holds every centre within a bound, cut by a LIMIT: a lead in central Paris (thousands of
covering agencies) and one in empty countryside both read a few dozen index entries. The
per-agency radius is tested on those rows, never in the index condition (a per-row distance
defeats the index). A lead that enough agencies cover costs one round trip.
"""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy.orm import Session

from engine.db import driver_cursor
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


def scan_sizes(limit: int) -> tuple[int | None, ...]:
    """How many nearest agencies each successive scan reads (None: all within the bound).

    Where agencies are dense the first, short scan proves the answer; a sparse area crowded with
    small zones needs a longer one, and rarely every agency in the box.
    """
    return (limit + 4, 4 * limit + 8, None)


# Suspended, paused and budget-exhausted agencies are never candidates (docs/rules.md §3): an agency
# whose spend this month (Paris time, the counter migration 0028 keeps) has reached its monthly
# budget could not buy the lead, so it does not take a place among the agencies named. One
# primary-key read per agency scanned, and only for agencies with a budget.
_ELIGIBLE = (
    "a.status = 'active' AND NOT a.paused"
    " AND (a.monthly_budget_cents IS NULL OR a.monthly_budget_cents > coalesce("
    "(SELECT s.cents FROM agency_month_spend s"
    " WHERE s.agency_id = a.id AND s.month = paris_month(now())), 0))"
)

# `near`: the %(scan)s nearest eligible agencies in sphere order, straight from the GiST index,
# inside the box around the point that holds every centre within %(bound_m)s. Exact distance
# tests stay outside this scan on purpose: inside it the planner cannot estimate how many rows
# they keep, and trades the ordered index scan for a bitmap scan and a sort of every agency in
# the box (thousands around Paris). `seen` and `reached` describe the scan so that the caller
# can prove the answer complete; only the %(limit)s nearest reached rows come back, then the
# agencies whose commune list names the lead's commune (`listed`).
_SEARCH = """
    WITH near AS MATERIALIZED (
        SELECT a.id, a.name, a.zone_center, a.radius_m,
               a.zone_center <-> CAST(%(point)s AS geography) AS sphere_m
        FROM agency a
        WHERE {eligible}
          AND a.zone_center && _ST_Expand(CAST(%(point)s AS geography), %(bound_m)s)
          AND a.id <> ALL(CAST(%(exclude)s AS uuid[]))
        ORDER BY a.zone_center <-> CAST(%(point)s AS geography)
        LIMIT %(scan)s
    ), seen AS (
        SELECT count(*) AS scanned, coalesce(max(sphere_m), 0) AS last_sphere_m FROM near
    ), best AS (
        SELECT id, name, distance_m,
               row_number() OVER (ORDER BY distance_m, id) AS rank,
               count(*) OVER () AS reached
        FROM (SELECT near.id, near.name,
                     ST_Distance(near.zone_center, CAST(%(point)s AS geography)) AS distance_m
              FROM near WHERE {within}) AS reached
    )
    SELECT seen.scanned, seen.last_sphere_m, best.reached,
           best.id, best.name, best.distance_m, CAST(%(reach)s AS text) AS reach
    FROM seen LEFT JOIN best ON best.rank <= %(limit)s
    {listed}
"""

_LISTED = f"""
    UNION ALL
    SELECT DISTINCT NULL::bigint, NULL::float8, NULL::bigint, a.id, a.name,
           ST_Distance(a.zone_center, CAST(%(point)s AS geography)), 'communes'
    FROM agency_commune ac JOIN agency a ON a.id = ac.agency_id
    WHERE ac.commune_code = ANY(CAST(%(communes)s AS text[])) AND {_ELIGIBLE}
"""

# In zone: the agency's own radius covers the point, or its commune list names the commune.
IN_ZONE = _SEARCH.format(
    eligible=_ELIGIBLE,
    within="ST_DWithin(near.zone_center, CAST(%(point)s AS geography), near.radius_m)",
    listed=_LISTED,
)

# Extension: agencies accepting extended leads with their centre within %(bound_m)s of the point.
EXTENDED = _SEARCH.format(
    eligible=f"{_ELIGIBLE} AND a.accepts_extended_leads",
    within="ST_DWithin(near.zone_center, CAST(%(point)s AS geography), %(bound_m)s)",
    listed="",
)


def match_lead(
    session: Session, place: Place, rules: MatchingRules | None = None
) -> list[Candidate]:
    """The candidates for a lead at `place`, nearest first, at most `max_named_agencies`.

    docs/rules.md §3: in zone (radius or commune list); when fewer than `min_candidates`,
    extended to agencies accepting it within each extension step (30 km, then 50 km).
    """
    rules = rules or matching_rules(session)
    # The hottest query of the product goes to the session's own psycopg connection (same
    # transaction): SQLAlchemy's statement layer would add a third to its client time.
    cursor = driver_cursor(session)
    return match_from(cursor, place, rules)


def first_scan(place: Place, rules: MatchingRules) -> tuple[str, dict[str, Any]]:
    """The first in-zone scan of `match_from` and its parameters, to send ahead of it (in a
    pipeline with other statements): `match_from` then starts from its rows."""
    params = _params(place, rules)
    scan = scan_sizes(params["limit"])[0]
    return IN_ZONE, {**params, "bound_m": MAX_RADIUS_M, "reach": "zone", "scan": scan}


def match_from(
    cursor: psycopg.Cursor[Any],
    place: Place,
    rules: MatchingRules,
    first_rows: list[Any] | None = None,
) -> list[Candidate]:
    """`match_lead` on a psycopg cursor, from the rows of `first_scan` when they were fetched
    already: a lead that enough agencies cover then costs no further round trip."""
    params = _params(place, rules)
    zone = {**params, "bound_m": MAX_RADIUS_M, "reach": "zone"}
    found = _search(cursor, IN_ZONE, zone, first_rows)
    for step_m in rules.extension_steps_m:
        if len(found) >= rules.min_candidates:
            break
        extension = {
            **params,
            "bound_m": step_m,
            "reach": extension_reach(step_m),
            "exclude": [c.agency_id for c in found],
        }
        found = merge(found, _search(cursor, EXTENDED, extension))
    return ranked(found, rules.max_named_agencies)


def _params(place: Place, rules: MatchingRules) -> dict[str, Any]:
    return {
        "point": place.ewkt,
        "communes": list(place.commune_codes),
        "exclude": [],
        "limit": max(rules.max_named_agencies, rules.min_candidates),
    }


def _search(
    cursor: psycopg.Cursor[Any],
    query: str,
    params: dict[str, Any],
    first_rows: list[Any] | None = None,
) -> list[Candidate]:
    """The `limit` nearest scanned agencies by spheroid distance, exactly, plus listed ones.

    The index hands agencies over in sphere order; we read a few and keep those within reach.
    When that read cannot prove the `limit` nearest by the spheroid, we read more
    (`scan_sizes`). `first_rows`: the first scan's rows, already fetched.
    """
    limit = params["limit"]
    for scan in scan_sizes(limit):
        if first_rows is not None:
            rows, first_rows = first_rows, None
        else:
            rows = cursor.execute(query, {**params, "scan": scan}, prepare=True).fetchall()
        scanned, last_sphere_m, reached, nearest, listed = _split(rows)
        kth_m = max((c.distance_m for c in nearest), default=None) if reached >= limit else None
        if scan is None or knn_fetch_is_exact(
            kth_m, reached, last_sphere_m, limit, fetched_all=scanned < scan
        ):
            break
    return merge(nearest, listed)


def _split(rows: list[Any]) -> tuple[int, float, int, list[Candidate], list[Candidate]]:
    """(scanned, last sphere distance, reached, nearest reached, listed) from the rows."""
    summary = next(r for r in rows if r[0] is not None)  # `seen` always yields a row
    nearest = [Candidate(r[3], r[4], r[5], r[6]) for r in rows if r[0] is not None and r[3]]
    listed = [Candidate(r[3], r[4], r[5], r[6]) for r in rows if r[0] is None]
    return summary[0], summary[1], summary[2] or 0, nearest, listed


__all__ = ["EXTENDED", "IN_ZONE", "MAX_RADIUS_M", "first_scan", "match_from", "match_lead"]
