"""Homeowners' links: see, export and erase their data, withdraw consent for an agency (the
private `data` link), and answer the confirmation e-mail ("c'est bien moi", "ce n'était pas
moi": one short-lived link each). The token in the link is the only key; no account exists.
Nothing answered here may be kept by a cache (`Cache-Control: no-store`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import delete, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, QueryParameter

from api.contract import HOMEOWNER, conflict, not_found, operation
from api.homeowner.schemas import (
    ContactConfirmedOut,
    DisownedOut,
    ErasedOut,
    LinksRenewedOut,
    MyDataOut,
    WithdrawnOut,
)
from api.schemas import shaped
from engine.privacy.flows import (
    confirm_contact,
    disown_request,
    erase_my_data,
    export_my_data,
    renew_my_links,
    withdraw_my_consent,
)

Token = Annotated[str, QueryParameter(min_length=10, max_length=400)]
NO_STORE = CacheControlHeader(no_store=True)


@get(
    "/api/v1/me/data",
    sync_to_thread=True,
    cache_control=NO_STORE,
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
    cache_control=NO_STORE,
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
    cache_control=NO_STORE,
    status_code=200,
    opt={"limit": "me"},
    tags=["homeowner"],
    summary="Withdraw my consent for one agency",
    **operation("withdrawConsent", *HOMEOWNER, not_found("consent_not_found")),
)
def withdraw(agency_id: FromPath[uuid.UUID], token: Token) -> WithdrawnOut:
    return shaped(withdraw_my_consent(token, agency_id), WithdrawnOut)


@post(
    "/api/v1/me/contact/confirm",
    sync_to_thread=True,
    cache_control=NO_STORE,
    status_code=200,
    opt={"limit": "me"},
    tags=["homeowner"],
    summary="Confirm the contact is mine",
    **operation("confirmContact", *HOMEOWNER, not_found("erased"), conflict("contact_disowned")),
)
def confirm(token: Token) -> ContactConfirmedOut:
    """ "C'est bien moi" (the confirmation e-mail's link, valid 7 days): the lead is *contact
    confirmed*. Again: the same answer. After "not me": 409 `contact_disowned`."""
    return shaped(confirm_contact(token), ContactConfirmedOut)


@post(
    "/api/v1/me/contact/not-me",
    sync_to_thread=True,
    cache_control=NO_STORE,
    status_code=200,
    opt={"limit": "me"},
    tags=["homeowner"],
    summary="Say the request was not mine",
    **operation("disownRequest", *HOMEOWNER, not_found("erased"), conflict("contact_confirmed")),
)
def not_me(token: Token) -> DisownedOut:
    """ "Ce n'était pas moi" (the confirmation e-mail's link, valid 7 days): the lead is withdrawn
    at once, every buyer refunded in full (rule `auto:not_me`) and told. Again: the same answer.
    After a confirmation: 409 `contact_confirmed`."""
    return shaped(disown_request(token), DisownedOut)


@post(
    "/api/v1/me/links/renew",
    sync_to_thread=True,
    cache_control=NO_STORE,
    status_code=200,
    opt={"limit": "me"},
    tags=["homeowner"],
    summary="Replace my links",
    **operation("renewMyLinks", *HOMEOWNER, not_found("erased")),
)
def renew(token: Token) -> LinksRenewedOut:
    """With the private link: every link sent so far stops working, and new ones are e-mailed to
    the homeowner's address (never in this answer)."""
    return shaped(renew_my_links(token), LinksRenewedOut)
