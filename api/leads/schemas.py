"""The marketplace's shapes: the catalogue of offers, the purchase and the purchased contacts.

The catalogue is anonymised (commune, property, estimate, project); contact details come only
with a purchase.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta

from api.schemas import Cents, EstimateOut, LocationPrecision, Out, Request

Mode = Literal["exclusive", "shared"]
Pipeline = Literal["new", "contacted", "appointment", "mandate_signed", "lost"]


class PurchaseIn(Request):
    mode: Mode
    price_cents: Cents


class PurchasePatch(Request):
    pipeline_status: Pipeline | None = None
    notes: str | None = None


class PropertyOut(Out, omit_defaults=True):
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


class ProjectOut(Out):
    timeline: str
    is_owner: bool


class OfferEstimateOut(Out):
    low_eur: int | None
    mid_eur: int | None
    high_eur: int | None
    confidence: str | None
    synthetic: bool | None


class OfferOut(Out):
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
    location_precision: Annotated[
        LocationPrecision,
        Meta(
            description="How precisely the property is placed, so the distance measured:"
            " address point, street, coordinates sent, or town hall"
        ),
    ]
    contact_confirmed: Annotated[
        bool,
        Meta(description="the homeowner confirmed the contact is theirs (link in our e-mail)"),
    ]


class OfferDetailOut(OfferOut):
    """One offer, whatever its phase, and whether the caller's agency bought it."""

    phase: str
    purchased: bool


class OfferPage(Out):
    items: list[OfferOut]
    next_cursor: str | None


class ContactOut(Out):
    """The homeowner; null once they erased their data."""

    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None


class AddressOut(Out):
    street: str | None
    postal_code: str
    commune_code: str
    city: str
    lat: float
    lon: float
    precision: Annotated[
        LocationPrecision,
        Meta(
            description="What lat/lon are: the address point, the centre of the street, the"
            " coordinates sent, or the town hall"
        ),
    ]


class PurchaseReceiptOut(Out):
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


class StoredEstimateOut(EstimateOut, forbid_unknown_fields=True):
    """The estimate as it was when the lead was made, and how it was reached."""

    radius_m: int | None = None
    basis: Annotated[str, Meta(description="radius, departement or none")] = "none"


class PurchaseOut(Out):
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
    estimate: StoredEstimateOut
    grade: str
    # Set when the homeowner withdrew this agency's consent or erased their data: do not contact
    # them again (the e-mail and phone are no longer given).
    do_not_contact: Literal["consent_withdrawn", "erased", "disowned", "refunded"] | None = None


class PurchasePage(Out):
    items: list[PurchaseOut]
    next_cursor: str | None


class StaffConsentOut(Out):
    text_version: str
    given_at: datetime
    agency_ids: list[uuid.UUID]
    ticked_via: Annotated[
        dict[str, str],
        Meta(description="How each agency was ticked: box, all, declared, preticked"),
    ]
    embedding_origin: str | None


class PointOut(Out):
    """Where the lead is placed (see `location_precision`)."""

    lat: float
    lon: float


class EstimationCommuneOut(Out):
    code: str
    name: str


class StaffEstimationOut(Out):
    id: uuid.UUID
    created_at: datetime
    source: str | None
    property: PropertyOut
    postal_code: str
    commune: EstimationCommuneOut
    location_precision: LocationPrecision
    location: PointOut
    estimate: StoredEstimateOut


class StaffCandidateOut(Out):
    """An agency named to the homeowner, and whether they consented to it."""

    agency_id: uuid.UUID
    name: str
    rank: int
    distance_m: float
    reach: str
    consented: bool


class RulesInForceOut(Out):
    """The rules as they were when the lead was matched and qualified."""

    matching: dict[str, Any]
    intake: dict[str, Any]


class StaffLeadOut(Out):
    """The whole lead as staff see it: qualification, bot signals, duplicates, consent."""

    id: uuid.UUID
    created_at: datetime
    status: str
    score: int
    grade: str
    reasons: list[str]
    quarantine_reasons: list[str]
    duplicate_of: uuid.UUID | None
    duplicates: list[uuid.UUID]
    contact: ContactOut
    project: ProjectOut
    consent: StaffConsentOut
    client_ip: str | None
    estimation: StaffEstimationOut
    candidates: list[StaffCandidateOut]
    rules: RulesInForceOut
