"""The public estimation form's API: step 1 (property and place → estimate and agencies), step 2
(contact, project, consent → a lead), the consent wording, and the staff view of a lead."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from litestar import Request, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import Caller, principal
from api.client import client_ip
from api.contract import KEYED, PUBLIC, TOO_LARGE, UNREADABLE, not_found, operation
from api.leads.schemas import StaffLeadOut
from api.schemas import (
    ConsentTextOut,
    EstimationIn,
    EstimationOut,
    LeadIn,
    LeadReceiptOut,
    shaped,
)
from engine.intake.flows import consent_wording, estimate_property, receive_lead
from engine.intake.reference import reference_of
from engine.intake.staff import lead_as_staff_see_it
from engine.intake.submissions import Client


@post(
    "/api/v1/estimations",
    opt={"limit": "step1"},
    sync_to_thread=True,
    status_code=201,
    tags=["estimation form"],
    summary="Step 1: estimate a property and name the agencies near it",
    **operation("createEstimation", *PUBLIC, UNREADABLE, TOO_LARGE),
)
def create_estimation(data: JSONBody[EstimationIn]) -> EstimationOut:
    """Public. No personal data: the property, its place, and where the form is embedded."""
    return EstimationOut.of(estimate_property(data.request(), date.today()))


@post(
    "/api/v1/estimations/{estimation_id:uuid}/lead",
    opt={"limit": "step2"},
    sync_to_thread=True,
    status_code=201,
    tags=["estimation form"],
    summary="Step 2: contact, project and consent per named agency",
    **operation("createLead", *PUBLIC, UNREADABLE, TOO_LARGE, not_found("estimation_not_found")),
)
def create_lead(
    estimation_id: FromPath[uuid.UUID], data: JSONBody[LeadIn], request: Request[Any, Any, Any]
) -> LeadReceiptOut:
    """Public. The answer is `received` whether the lead is qualified, quarantined or a
    duplicate; sending the same estimation's step 2 again answers the first lead."""
    client = Client(client_ip(request), request.headers.get("user-agent"))
    receipt = receive_lead(estimation_id, data.submission(), client)
    return LeadReceiptOut(receipt.lead_id, "received", reference_of(receipt.lead_id))


@get(
    "/api/v1/consent-text",
    opt={"limit": "public"},
    sync_to_thread=True,
    tags=["estimation form"],
    summary="The consent wording in force, to show above the agencies' tick boxes",
    **operation("readConsentText", *PUBLIC),
)
def current_consent_text(lang: FromQuery[str] = "fr") -> ConsentTextOut:
    """Public. Send its `version` back with step 2: the lead keeps which wording was agreed to."""
    wording = consent_wording(lang)
    return ConsentTextOut(wording.version, wording.lang, wording.text)


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
