"""Step 1 of the form: property and place in, estimate and named agencies out (PRODUCT §4).

No personal data is asked or kept here. The answer names the candidate agencies (name and
distance only) so that the homeowner can choose who may contact them in step 2.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from engine.errors import RuleViolation
from engine.estimation.estimate import Estimate, estimate
from engine.geo.addresses import place_at_street
from engine.geo.locate import locate
from engine.intake.leads import ORIGIN
from engine.intake.models import Estimation
from engine.matching.rules import Candidate
from engine.matching.service import match_lead
from engine.settings import matching_rules

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
    place = locate(session, request.postal_code, request.city, request.lat, request.lon)
    if place.precision == "town_hall":
        place = place_at_street(session, place, request.street)
    rules = matching_rules(session)
    agencies = match_lead(session, place, rules)
    result = estimate(
        session, request.property_type, request.surface_m2, place, today, request.property_facts
    )
    row = Estimation(
        source=request.source,
        embedding_origin=origin,
        property_type=request.property_type,
        surface_m2=request.surface_m2,
        property={
            "type": request.property_type,
            "surface_m2": request.surface_m2,
            **request.property_facts,
        },
        postal_code=request.postal_code.strip(),
        commune_code=place.commune_code,
        street=(request.street or "").strip() or None,
        location=place.ewkt,
        location_precision=place.precision,
        estimate=asdict(result),
        candidates=[
            {
                "agency_id": str(c.agency_id),
                "name": c.agency_name,
                "rank": rank,
                "distance_m": round(c.distance_m, 1),
                "reach": c.reach,
            }
            for rank, c in enumerate(agencies, start=1)
        ],
        matching_rules={
            "version": rules.version,
            "min_candidates": rules.min_candidates,
            "max_named_agencies": rules.max_named_agencies,
            "extension_steps_m": list(rules.extension_steps_m),
        },
    )
    session.add(row)
    session.flush()
    return EstimationAnswer(row.id, result, agencies, place.precision)
