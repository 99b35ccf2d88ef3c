"""The public estimation form's API: step 1 (property and place → estimate and agencies)."""

from __future__ import annotations

from datetime import date

import msgspec
from litestar import post
from litestar.params import JSONBody

from api.schemas import EstimateOut, EstimationIn, EstimationOut, NamedAgencyOut
from engine.db import unit_of_work
from engine.intake.estimations import EstimationRequest, request_estimate


@post(
    "/api/v1/estimations",
    sync_to_thread=True,
    status_code=201,
    tags=["estimation form"],
    summary="Step 1: estimate a property and name the agencies near it",
)
def create_estimation(data: JSONBody[EstimationIn]) -> EstimationOut:
    """Public. No personal data: the property, its place, and where the form is embedded."""
    facts = {
        k: v
        for k, v in msgspec.structs.asdict(data.property).items()
        if v is not None and k not in ("type", "surface_m2")
    }
    request = EstimationRequest(
        property_type=data.property.type,
        surface_m2=data.property.surface_m2,
        postal_code=data.address.postal_code,
        city=data.address.city,
        lat=data.address.lat,
        lon=data.address.lon,
        property_facts=facts,
        source=data.source,
    )
    with unit_of_work() as session:
        answer = request_estimate(session, request, date.today())
    return EstimationOut(
        id=answer.id,
        estimate=msgspec.convert(answer.estimate, EstimateOut, from_attributes=True),
        agencies=[
            NamedAgencyOut(c.agency_id, c.agency_name, c.distance_km, c.reach)  # type: ignore[arg-type]
            for c in answer.agencies
        ],
    )
