"""Homeowners' private link: see, export and erase their data, withdraw consent for an agency.
The token in the link (from the confirmation e-mail) is the only key; no account exists."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import delete, get, post
from litestar.params import FromPath, QueryParameter

from api.contract import HOMEOWNER, not_found, operation
from api.homeowner.schemas import ErasedOut, MyDataOut, WithdrawnOut
from api.schemas import shaped
from engine.privacy.flows import erase_my_data, export_my_data, withdraw_my_consent

Token = Annotated[str, QueryParameter(min_length=10, max_length=400)]


@get(
    "/api/v1/me/data",
    sync_to_thread=True,
    opt={"limit": "me"},
    tags=["homeowner"],
    summary="Export my data",
    **operation("exportMyData", *HOMEOWNER, not_found("erased")),
)
def my_data(token: Token) -> MyDataOut:
    """Everything held about the homeowner as JSON: contact, project, property, estimate, the
    consent given (wording, time, agencies) and which agencies bought the lead and when."""
    return shaped(export_my_data(token), MyDataOut)


@delete(
    "/api/v1/me/data",
    sync_to_thread=True,
    status_code=200,
    opt={"limit": "me"},
    tags=["homeowner"],
    summary="Erase my data",
    **operation("eraseMyData", *HOMEOWNER, not_found("erased")),
)
def erase_data(token: Token) -> ErasedOut:
    """Personal fields anonymised, the lead withdrawn from sale, buying agencies notified."""
    return shaped(erase_my_data(token), ErasedOut)


@post(
    "/api/v1/me/consents/{agency_id:uuid}/withdraw",
    sync_to_thread=True,
    status_code=200,
    opt={"limit": "me"},
    tags=["homeowner"],
    summary="Withdraw my consent for one agency",
    **operation("withdrawConsent", *HOMEOWNER, not_found("consent_not_found")),
)
def withdraw(agency_id: FromPath[uuid.UUID], token: Token) -> WithdrawnOut:
    return shaped(withdraw_my_consent(token, agency_id), WithdrawnOut)
