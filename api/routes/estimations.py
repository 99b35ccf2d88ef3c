"""The public estimation form's API: step 1 (property and place → estimate and agencies), step 2
(contact, project, consent → a lead), the consent wording, and the staff view of a lead."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import Caller, principal
from api.client import client_ip
from api.contract import KEYED, PUBLIC, UNREADABLE, not_found, operation
from api.leads.schemas import StaffLeadOut
from api.schemas import (
    ConsentTextOut,
    EstimateOut,
    EstimationIn,
    EstimationOut,
    LeadIn,
    LeadReceiptOut,
    NamedAgencyOut,
    shaped,
)
from engine.db import unit_of_work
from engine.intake.estimations import EstimationRequest, request_estimate
from engine.intake.leads import Client, LeadSubmission, consent_text, submit_lead
from engine.intake.staff import lead_as_staff_see_it


@post(
    "/api/v1/estimations",
    sync_to_thread=True,
    status_code=201,
    tags=["estimation form"],
    summary="Step 1: estimate a property and name the agencies near it",
    **operation("createEstimation", *PUBLIC, UNREADABLE),
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
        street=data.address.street,
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


@post(
    "/api/v1/estimations/{estimation_id:uuid}/lead",
    sync_to_thread=True,
    status_code=201,
    tags=["estimation form"],
    summary="Step 2: contact, project and consent per named agency",
    **operation("createLead", *PUBLIC, UNREADABLE, not_found("estimation_not_found")),
)
def create_lead(
    estimation_id: FromPath[uuid.UUID], data: JSONBody[LeadIn], request: Request[Any, Any, Any]
) -> LeadReceiptOut:
    """Public. The answer is `received` whether the lead is qualified, quarantined or a
    duplicate; sending the same estimation's step 2 again answers the first lead."""
    submission = LeadSubmission(
        first_name=data.contact.first_name,
        last_name=data.contact.last_name,
        email=data.contact.email,
        phone=data.contact.phone,
        timeline=data.project.timeline,
        is_owner=data.project.is_owner,
        consent_agency_ids=data.consent.agency_ids,
        consent_text_version=data.consent.text_version,
        honeypot=data.website,
        consent_ticked_via=dict(data.consent.ticked_via),
        consent_origin=data.consent.embedding_origin,
    )
    client = Client(client_ip(request), request.headers.get("user-agent"))
    with unit_of_work() as session:
        receipt = submit_lead(session, estimation_id, submission, client)
    return LeadReceiptOut(receipt.lead_id, "received")


@get(
    "/api/v1/consent-text",
    sync_to_thread=True,
    tags=["estimation form"],
    summary="The consent wording in force, to show above the agencies' tick boxes",
    **operation("readConsentText", *PUBLIC),
)
def current_consent_text(lang: FromQuery[str] = "fr") -> ConsentTextOut:
    """Public. Send its `version` back with step 2: the lead keeps which wording was agreed to."""
    with unit_of_work() as session:
        version, body = consent_text(session, lang)
    return ConsentTextOut(version, "en" if lang == "en" else "fr", body)


@get(
    "/api/v1/admin/leads/{lead_id:uuid}",
    sync_to_thread=True,
    dependencies={"caller": Provide(principal, sync_to_thread=True)},
    tags=["leads"],
    summary="The whole lead for staff: status, score, reasons, consent, candidates",
    security=[{"BearerAuth": []}],
    **operation("readStaffLead", *KEYED, not_found("lead_not_found")),
)
def staff_lead(caller: Caller, lead_id: FromPath[uuid.UUID]) -> StaffLeadOut:
    """Admin and finance only."""
    return shaped(lead_as_staff_see_it(caller, lead_id), StaffLeadOut)
