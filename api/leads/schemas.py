"""The marketplace's shapes: the catalogue of offers, the purchase and the purchased contacts.

The catalogue is anonymised (commune, property, estimate, project); contact details come only
with a purchase.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from api.schemas import Cents, EstimateOut, Request

Mode = Literal["exclusive", "shared"]
Pipeline = Literal["new", "contacted", "appointment", "mandate_signed", "lost"]


class PurchaseIn(Request):
    mode: Mode
    price_cents: Cents


class PurchasePatch(Request):
    pipeline_status: Pipeline | None = None
    notes: str | None = None


class PropertyOut(Struct, omit_defaults=True):
    """The property as the homeowner described it; facts not given are absent."""

    type: str
    surface_m2: float
    rooms: int | None = None
    bedrooms: int | None = None
    floor: int | None = None
    lift: bool | None = None
    condition: str | None = None
    year: int | None = None
    land_m2: float | None = None
    parking: bool | None = None
    outdoor_space: str | None = None


class ProjectOut(Struct):
    timeline: str
    is_owner: bool


class OfferEstimateOut(Struct):
    low_eur: int | None
    mid_eur: int | None
    high_eur: int | None
    confidence: str | None
    synthetic: bool | None


class OfferOut(Struct):
    """One offer of the catalogue: what an agency sees before buying."""

    id: Annotated[uuid.UUID, Meta(description="the lead's id")]
    mode: Mode
    price_cents: int
    slots_left: int
    offer_ends_at: datetime
    qualified_at: datetime
    commune: str
    commune_code: str
    postal_code: str
    property: PropertyOut
    estimate_mid_eur: int | None
    estimate: OfferEstimateOut
    project: ProjectOut
    grade: str
    distance_km: float
    reach: str


class OfferDetailOut(OfferOut):
    """One offer, whatever its phase, and whether the caller's agency bought it."""

    phase: str
    purchased: bool


class OfferPage(Struct):
    items: list[OfferOut]
    next_cursor: str | None


class ContactOut(Struct):
    """The homeowner; null once they erased their data."""

    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None


class AddressOut(Struct):
    street: str | None
    postal_code: str
    commune_code: str
    city: str
    lat: float
    lon: float


class PurchaseReceiptOut(Struct):
    """The answer to a purchase: the contact, revealed."""

    purchase_id: uuid.UUID
    lead_id: uuid.UUID
    mode: Mode
    price_cents: int
    purchased_at: datetime
    contact: ContactOut
    address: AddressOut
    project: ProjectOut
    property: PropertyOut


class PurchaseOut(Struct):
    """A purchased lead: the contact, where it stands in the agency's pipeline, its notes."""

    id: uuid.UUID
    lead_id: uuid.UUID
    mode: Mode
    price_cents: int
    purchased_at: datetime
    pipeline_status: Pipeline
    notes: str
    contact: ContactOut
    address: AddressOut
    project: ProjectOut
    property: PropertyOut
    estimate: EstimateOut
    grade: str


class PurchasePage(Struct):
    items: list[PurchaseOut]
    next_cursor: str | None
