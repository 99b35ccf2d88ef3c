"""Agencies' request and response shapes: the profile, its zone, its collaborators' keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from api.schemas import Cents, Latitude, Longitude, Out, RadiusKm, Request


class LocationIn(Request):
    """Coordinates, or postal code + city (placed at the town hall), or both (checked together)."""

    lat: Latitude | None = None
    lon: Longitude | None = None
    postal_code: str | None = None
    city: str | None = None


class RegisteredAddressIn(Request):
    """The agency's registered office (siège), as its invoices name it."""

    street: Annotated[str, Meta(min_length=1, max_length=200)]
    postcode: Annotated[str, Meta(pattern=r"^[0-9]{5}$")]
    city: Annotated[str, Meta(min_length=1, max_length=100)]


# A zone's extra communes: INSEE codes, postal codes or names (`Saint-Denis (93)`).
ZoneCommunes = Annotated[
    list[str],
    Meta(
        max_length=500,
        description="Each an INSEE code, a postal code (every commune it serves) or a commune's "
        "name, with its département in brackets when the name is shared; answered as INSEE codes.",
        examples=[["35238", "35400", "Saint-Denis (93)"]],
    ),
]


class AgencyIn(Request):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    siret: Annotated[str, Meta(description="14 digits")]
    email: str
    office: LocationIn
    phone: str | None = None
    radius_km: RadiusKm | None = None
    accepts_extended_leads: bool = True
    communes: ZoneCommunes = msgspec.field(default_factory=list)
    monthly_budget_cents: Cents | None = None


class AgencyPatch(Request):
    """Only the fields present change. `center: null` puts the zone back on the office."""

    name: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    phone: str | UnsetType | None = UNSET
    radius_km: RadiusKm | UnsetType = UNSET
    center: LocationIn | UnsetType | None = UNSET
    communes: ZoneCommunes | UnsetType = UNSET
    accepts_extended_leads: bool | UnsetType = UNSET
    paused: bool | UnsetType = UNSET
    monthly_budget_cents: Cents | UnsetType | None = UNSET
    webhook_url: str | UnsetType | None = UNSET
    registered_address: RegisteredAddressIn | UnsetType = UNSET
    # The directory address e-invoices reach the agency at (SIREN or SIREN_suffix); null: the
    # SIREN itself.
    einvoicing_address: str | UnsetType | None = UNSET

    def changes(self) -> dict[str, Any]:
        present = {f: getattr(self, f) for f in self.__struct_fields__}
        out = {k: v for k, v in present.items() if v is not UNSET}
        for name in ("center", "registered_address"):
            if isinstance(out.get(name), Struct):
                out[name] = msgspec.structs.asdict(out[name])
        return out


class ApiKeyIn(Request):
    role: Literal["owner", "buyer", "viewer"]
    label: Annotated[str, Meta(max_length=200)] = ""
    # With its time zone, in the future, at most two years ahead; none: until revoked.
    expires_at: datetime | None = None


class InvitationIn(Request):
    """A person invited to the agency's Espace Pro: an e-mail with a single-use link (7 days)
    lets them choose a password."""

    email: Annotated[str, Meta(max_length=320)]
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    role: Literal["owner", "buyer", "viewer"]
    lang: Literal["fr", "en"] = "fr"


class InvitationOut(Out):
    person_id: uuid.UUID
    email: str
    role: str
    status: Literal["invited"]


class ApiKeyRoleIn(Request):
    role: Literal["owner", "buyer", "viewer"]


class ApiKeyOut(Struct):
    id: uuid.UUID
    key: str
    role: str
    label: str
    agency_id: uuid.UUID | None
    expires_at: datetime | None


class ApiKeyInfo(Struct):
    id: uuid.UUID
    role: str
    label: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None
    # When the key was last accepted, true to the hour.
    last_used_at: datetime | None


class PointOut(Struct):
    lat: float
    lon: float


class OfficeOut(Struct):
    lat: float
    lon: float
    commune_code: str | None


class ZoneOut(Struct):
    center: PointOut
    radius_km: float
    communes: list[str]


class AgencyOut(Struct):
    id: uuid.UUID
    name: str
    siret: str
    email: str
    phone: str | None
    office: OfficeOut
    zone: ZoneOut
    accepts_extended_leads: bool
    status: str
    paused: bool
    monthly_budget_cents: int | None
    webhook_url: str | None
    is_demo: bool
    registered_address: dict[str, str] | None
    einvoicing_address: str


class WebhookOut(Out):
    """Where Mandat posts the agency's events, and the secret that signs them."""

    url: str | None
    secret: str
    # After a rotation: until when webhooks also carry the previous secret's signature.
    previous_secret_until: datetime | None = None
