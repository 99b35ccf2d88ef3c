"""What the homeowner's services answer: typed read models, never JSON-shaped dicts.

The property and the estimate are the documents stored with the estimation (the facts the
homeowner gave, the estimate as computed); everything else is a named field.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.sales.read_models import Contact, Project


@dataclass(frozen=True)
class HomeAddress:
    street: str | None
    postal_code: str
    city: str


@dataclass(frozen=True)
class NamedAgency:
    """An agency named to the homeowner at step 1, nearest first."""

    agency_name: str
    rank: int
    distance_m: float


@dataclass(frozen=True)
class ConsentedAgency:
    agency_id: uuid.UUID
    agency_name: str
    rank: int
    ticked_via: str  # box, all, declared, preticked
    withdrawn_at: datetime | None


@dataclass(frozen=True)
class Consent:
    """The consent given: its wording, when, from which site, to which agencies."""

    text_version: str
    text: str
    given_at: datetime
    embedding_origin: str | None
    agencies: list[ConsentedAgency]


@dataclass(frozen=True)
class Buyer:
    agency: str
    bought_at: datetime
    mode: str


@dataclass(frozen=True)
class MyData:
    """Everything Mandat holds about the homeowner."""

    reference: str
    contact: Contact
    project: Project
    property: dict[str, Any]
    address: HomeAddress
    estimate: dict[str, Any]
    requested_at: datetime
    named_agencies: list[NamedAgency]
    consent: Consent
    bought_by: list[Buyer]


@dataclass(frozen=True)
class Erased:
    """The homeowner's data erased; `agencies_notified` had bought the lead and are told."""

    agencies_notified: int
    erased: bool = True


@dataclass(frozen=True)
class ConsentWithdrawn:
    agency_id: uuid.UUID
    withdrawn_at: datetime


@dataclass(frozen=True)
class ContactConfirmed:
    confirmed_at: datetime
    contact_confirmed: bool = True


@dataclass(frozen=True)
class Disowned:
    """The lead is withdrawn; `buyers_refunded` agencies had bought it and are refunded in full."""

    disowned_at: datetime
    buyers_refunded: int
    withdrawn: bool = True


@dataclass(frozen=True)
class LinksRenewed:
    """Every link sent so far stops working; new ones went to the homeowner's address."""

    renewed: bool = True
