"""The homeowner's shapes: everything held about them, and the answers to erasure and withdrawal."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from api.leads.schemas import ContactOut, ProjectOut, PropertyOut, StoredEstimateOut
from api.schemas import Out


class HomeAddressOut(Out):
    street: str | None
    postal_code: str
    city: str


class ConsentedAgencyOut(Out):
    agency_id: uuid.UUID
    agency_name: str
    rank: int
    ticked_via: Literal["box", "all", "declared", "preticked"]
    withdrawn_at: datetime | None


class ConsentOut(Out):
    text_version: str
    text: str
    given_at: datetime
    embedding_origin: str | None
    agencies: list[ConsentedAgencyOut]


class BuyerOut(Out):
    agency: str
    bought_at: datetime
    mode: Literal["exclusive", "shared"]


class AgencyNamedOut(Out):
    """An agency named to the homeowner at step 1, nearest first."""

    agency_name: str
    rank: int
    distance_m: float


class MyDataOut(Out):
    """Everything Mandat holds about the homeowner."""

    reference: str
    contact: ContactOut
    project: ProjectOut
    property: PropertyOut
    address: HomeAddressOut
    estimate: StoredEstimateOut
    requested_at: datetime
    named_agencies: list[AgencyNamedOut]
    consent: ConsentOut
    bought_by: list[BuyerOut]


class ErasedOut(Out):
    erased: bool
    agencies_notified: int


class WithdrawnOut(Out):
    agency_id: uuid.UUID
    withdrawn_at: datetime


class ContactConfirmedOut(Out):
    contact_confirmed: bool
    confirmed_at: datetime


class DisownedOut(Out):
    """The lead is withdrawn; `buyers_refunded` agencies had bought it and are refunded in full."""

    withdrawn: bool
    disowned_at: datetime
    buyers_refunded: int


class LinksRenewedOut(Out):
    renewed: bool
