"""Step 1 of the form: property and place in, estimate and named agencies out (docs/rules.md §4).

No personal data is asked or kept here. The answer names the candidate agencies (name and
distance only) so that the homeowner can choose who may contact them in step 2.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy.orm import Session

from engine.errors import RuleViolation
from engine.estimation.estimate import Estimate, estimate_from, estimate_statement
from engine.geo.addresses import place_at_street
from engine.geo.gazetteer import gazetteer
from engine.geo.locate import DISTANCE_TO_COMMUNE, Place, at_coordinates, locate_commune
from engine.intake.consent import ORIGIN
from engine.matching.rules import Candidate
from engine.matching.service import first_scan, match_from
from engine.settings import MATCHING_KEYS, MatchingRules, matching_rules_of

PROPERTY_TYPES = ("appartement", "maison", "terrain", "autre")
SURFACE_MIN_M2, SURFACE_MAX_M2 = 5, 10_000


@dataclass
class EstimationRequest:
    property_type: str
    surface_m2: float
    postal_code: str
    city: str
    lat: float | None = None
    lon: float | None = None
    property_facts: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    street: str | None = None
    embedding_origin: str | None = None  # the page that framed the form, as the form saw it


@dataclass(frozen=True)
class EstimationAnswer:
    id: uuid.UUID
    estimate: Estimate
    agencies: list[Candidate]
    # address, street, coordinates or town_hall: where the distances to the agencies are from.
    location_precision: str


# Step 1 is read in one pipelined round trip, then written in a second (`estimate_property` runs
# it in autocommit: no BEGIN or COMMIT either; composed in a transaction, its BEGIN goes with the
# pipeline). The rules and the communes dataset in force come with
# the reads: the rules the first scan used (the last seen) and the gazetteer are checked against
# them, and the reads are made again on the rare change.
_IN_FORCE = """
    SELECT key, value FROM setting WHERE key = ANY(%(keys)s)
    UNION ALL
    SELECT '', to_jsonb(version) FROM dataset_load WHERE name = 'communes'
"""

_INSERT = """
    INSERT INTO estimation (source, embedding_origin, property_type, surface_m2, property,
                            postal_code, commune_code, street, location, location_precision,
                            estimate, candidates, matching_rules)
    VALUES (%(source)s, %(origin)s, %(type)s, %(surface)s, %(property)s, %(postal_code)s,
            %(commune)s, %(street)s, CAST(%(location)s AS geography), %(precision)s,
            %(estimate)s, %(candidates)s, %(rules)s)
    RETURNING id
"""

# The matching rules last read, per database: what the first in-zone scan is sized with.
_rules_seen: dict[str, MatchingRules] = {}


@dataclass(frozen=True)
class _Reads:
    rules: MatchingRules
    dataset: str | None
    first_scan: list[Any]
    estimate: list[Any]
    distance_m: float | None


def request_estimate(session: Session, request: EstimationRequest, today: date) -> EstimationAnswer:
    if request.property_type not in PROPERTY_TYPES:
        raise RuleViolation.at(
            "property.type",
            "unknown_property_type",
            f"The type is one of {', '.join(PROPERTY_TYPES)}.",
        )
    if not SURFACE_MIN_M2 <= request.surface_m2 <= SURFACE_MAX_M2:
        raise RuleViolation.at(
            "property.surface_m2",
            "surface_out_of_range",
            f"The surface is between {SURFACE_MIN_M2} and {SURFACE_MAX_M2:,} m².",
        )
    origin = request.embedding_origin.lower() if request.embedding_origin else None
    if origin is not None and not ORIGIN.match(origin):
        raise RuleViolation.at(
            "embedding_origin",
            "invalid_origin",
            "The embedding page's origin, as scheme://host[:port].",
        )
    raw: psycopg.Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
    database = str(session.get_bind().engine.url)
    for attempt in range(2):
        place = locate_commune(session, request.postal_code, request.city, request.lat, request.lon)
        # Both coordinates or neither: `locate_commune` refuses one alone.
        coordinates = request.lat is not None and request.lon is not None
        if request.lat is not None and request.lon is not None:
            place = replace(place, lat=request.lat, lon=request.lon)
        else:
            place = place_at_street(session, place, request.street)
        held = _rules_seen.get(database, MatchingRules())
        reads = _read(raw, place, held, request.property_type, today, coordinates)
        _rules_seen[database] = reads.rules
        stale = gazetteer(session).version != reads.dataset
        if stale:  # a new communes dataset: load it, place the property again
            gazetteer(session, unless_version=reads.dataset)
        if attempt or (reads.rules == held and not stale):
            break
    if reads.distance_m is not None:
        place = at_coordinates(place, place.lat, place.lon, reads.distance_m, "address")
    rules = reads.rules
    cursor = raw.cursor()
    agencies = match_from(cursor, place, rules, reads.first_scan)
    result = estimate_from(
        reads.estimate, request.property_type, request.surface_m2, request.property_facts
    )
    candidates = [
        {
            "agency_id": str(c.agency_id),
            "name": c.agency_name,
            "rank": rank,
            "distance_m": round(c.distance_m, 1),
            "reach": c.reach,
        }
        for rank, c in enumerate(agencies, start=1)
    ]
    row = cursor.execute(
        _INSERT,
        {
            "source": request.source,
            "origin": origin,
            "type": request.property_type,
            "surface": request.surface_m2,
            "property": Jsonb(
                {
                    "type": request.property_type,
                    "surface_m2": request.surface_m2,
                    **request.property_facts,
                }
            ),
            "postal_code": request.postal_code.strip(),
            "commune": place.commune_code,
            "street": (request.street or "").strip() or None,
            "location": place.ewkt,
            "precision": place.precision,
            "estimate": Jsonb(asdict(result)),
            "candidates": Jsonb(candidates),
            "rules": Jsonb(
                {
                    "version": rules.version,
                    "min_candidates": rules.min_candidates,
                    "max_named_agencies": rules.max_named_agencies,
                    "extension_steps_m": list(rules.extension_steps_m),
                }
            ),
        },
        prepare=True,
    ).fetchone()
    assert row is not None
    return EstimationAnswer(row[0], result, agencies, place.precision)


def _read(
    raw: psycopg.Connection[Any],
    place: Place,
    rules: MatchingRules,
    property_type: str,
    today: date,
    coordinates: bool,
) -> _Reads:
    """Everything step 1 reads, in one round trip: the rules and dataset in force, the distance
    of the coordinates to the commune (when given), the first in-zone scan (sized by `rules`)
    and the estimate."""
    statement = estimate_statement(property_type, place, today)
    # Leaving the pipeline sends its one Sync and collects every result: one round trip.
    with raw.pipeline():
        in_force = raw.execute(_IN_FORCE, {"keys": list(MATCHING_KEYS)}, prepare=True)
        distance = (
            raw.execute(DISTANCE_TO_COMMUNE, {"point": place.ewkt, "code": place.commune_code})
            if coordinates
            else None
        )
        zone = raw.execute(*first_scan(place, rules), prepare=True)
        comparables = raw.execute(*statement, prepare=True) if statement else None
    stored = dict(in_force.fetchall())
    dataset = stored.pop("", None)
    return _Reads(
        matching_rules_of(stored),
        dataset,
        zone.fetchall(),
        comparables.fetchall() if comparables else [],
        distance.fetchone()[0] if distance else None,  # type: ignore[index]
    )
