"""What the marketplace's services answer: typed read models, never JSON-shaped dicts.

The property and the estimate are the documents stored with the estimation (JSON facts the
homeowner gave, the estimate as computed); everything else is a named field.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Project:
    timeline: str
    is_owner: bool


@dataclass(frozen=True)
class Contact:
    """The homeowner; None once they erased their data."""

    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class Address:
    street: str | None
    postal_code: str
    commune_code: str
    city: str
    lat: float
    lon: float
    # address, street, coordinates or town_hall: what lat/lon are.
    precision: str


@dataclass(frozen=True)
class Offer:
    """One offer of an agency's catalogue, anonymised."""

    id: uuid.UUID
    mode: str
    price_cents: int
    slots_left: int
    offer_ends_at: datetime
    qualified_at: datetime
    commune: str
    commune_code: str
    postal_code: str
    property: dict[str, Any]
    estimate_mid_eur: int | None
    estimate: dict[str, Any]
    project: Project
    grade: str
    distance_km: float
    reach: str
    # How precisely the property is placed, so how exact the distance is.
    location_precision: str
    # The homeowner clicked "c'est bien moi" in the confirmation e-mail.
    contact_confirmed: bool


@dataclass(frozen=True)
class OfferDetail(Offer):
    phase: str
    purchased: bool


@dataclass(frozen=True)
class PurchaseReceipt:
    """The answer to a purchase: the contact, revealed."""

    purchase_id: uuid.UUID
    lead_id: uuid.UUID
    mode: str
    price_cents: int
    purchased_at: datetime
    contact: Contact
    address: Address
    project: Project
    property: dict[str, Any]


@dataclass(frozen=True)
class PurchasedLead:
    """A purchased lead as its agency works it: contact, pipeline status, notes."""

    id: uuid.UUID
    lead_id: uuid.UUID
    mode: str
    price_cents: int
    purchased_at: datetime
    pipeline_status: str
    notes: str
    contact: Contact
    address: Address
    project: Project
    property: dict[str, Any]
    estimate: dict[str, Any]
    grade: str
    # "consent_withdrawn", "erased", "disowned" (the person says the request was not theirs) or
    # "refunded" (in full): the homeowner must not be contacted (no e-mail or phone).
    do_not_contact: str | None = None


def contact_of(row: Any) -> Contact:
    return Contact(row["first_name"], row["last_name"], row["email"], row["phone_e164"])


def address_of(row: Any) -> Address:
    return Address(
        row["street"],
        row["postal_code"],
        row["commune_code"],
        row["commune_name"],
        row["lat"],
        row["lon"],
        row["location_precision"],
    )
