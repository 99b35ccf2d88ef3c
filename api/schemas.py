"""Request and response shapes (msgspec), kept apart from the database models.

Request bodies forbid unknown fields: a typo is a 422, never silently ignored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

Latitude = Annotated[float, Meta(ge=-90, le=90)]
Longitude = Annotated[float, Meta(ge=-180, le=180)]
RadiusKm = Annotated[float, Meta(ge=5, le=50, description="5 to 50 km")]
# Up to a billion euros: any larger amount is a mistake, and it always fits a bigint.
Cents = Annotated[int, Meta(ge=0, le=100_000_000_000, description="euro cents, excluding VAT")]


class Request(Struct, forbid_unknown_fields=True, kw_only=True):
    """A request body. Text with a NUL character is refused: no one types it, and PostgreSQL
    cannot store it."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            texts = enumerate(value) if isinstance(value, list) else [(None, value)]
            for index, text in texts:
                if isinstance(text, str) and "\x00" in text:
                    where = name if index is None else f"{name}[{index}]"
                    raise ValueError(f"`{where}` contains a NUL character")


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


class AgencyIn(Request):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    siret: Annotated[str, Meta(description="14 digits")]
    email: str
    office: LocationIn
    phone: str | None = None
    radius_km: RadiusKm | None = None
    accepts_extended_leads: bool = True
    communes: Annotated[list[str], Meta(max_length=500)] = msgspec.field(default_factory=list)
    monthly_budget_cents: Cents | None = None


class AgencyPatch(Request):
    """Only the fields present change. `center: null` puts the zone back on the office."""

    name: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    phone: str | UnsetType | None = UNSET
    radius_km: RadiusKm | UnsetType = UNSET
    center: LocationIn | UnsetType | None = UNSET
    communes: Annotated[list[str], Meta(max_length=500)] | UnsetType = UNSET
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


class ApiKeyRoleIn(Request):
    role: Literal["owner", "buyer", "viewer"]


class ApiKeyOut(Struct):
    id: uuid.UUID
    key: str
    role: str
    label: str
    agency_id: uuid.UUID | None


class ApiKeyInfo(Struct):
    id: uuid.UUID
    role: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


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


class CandidateOut(Struct):
    id: uuid.UUID
    name: str
    distance_km: float
    reach: Literal["zone", "communes", "extended_30", "extended_50"]
    rank: int


class PlaceOut(Struct):
    commune_code: str
    commune_name: str
    departement_code: str
    lat: float
    lon: float
    precision: str


class MatchOut(Struct):
    place: PlaceOut
    rules: dict[str, Any]
    agencies: list[CandidateOut]


class PropertyIn(Request):
    """Step 1: the property. No personal data."""

    type: Literal["appartement", "maison", "terrain", "autre"]
    surface_m2: Annotated[float, Meta(ge=5, le=10_000, description="5 to 10,000 m²")]
    rooms: Annotated[int, Meta(ge=0, le=50)]
    bedrooms: Annotated[int, Meta(ge=0, le=50)] | None = None
    floor: Annotated[int, Meta(ge=-5, le=100)] | None = None
    lift: bool | None = None
    condition: Literal["to_renovate", "fair", "good", "excellent"] | None = None
    year: Annotated[int, Meta(ge=1000, le=2100)] | None = None
    land_m2: Annotated[float, Meta(ge=0, le=10_000_000)] | None = None
    parking: bool | None = None
    outdoor_space: Literal["none", "balcony", "terrace", "garden"] | None = None


class AddressIn(Request):
    postal_code: Annotated[str, Meta(max_length=10)]
    city: Annotated[str, Meta(max_length=100)] = ""
    street: Annotated[str, Meta(max_length=200)] | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None


class EstimationIn(Request):
    property: PropertyIn
    address: AddressIn
    source: Annotated[str, Meta(max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")] | None = None


class EstimateOut(Struct):
    available: bool
    low_eur: int | None
    mid_eur: int | None
    high_eur: int | None
    eur_per_m2: int | None
    comparables: int
    confidence: str
    synthetic: bool


class NamedAgencyOut(Struct):
    id: uuid.UUID
    name: str
    distance_km: float
    reach: Literal["zone", "communes", "extended_30", "extended_50"]


class EstimationOut(Struct):
    id: uuid.UUID
    estimate: EstimateOut
    agencies: list[NamedAgencyOut]


class ContactIn(Request):
    first_name: Annotated[str, Meta(max_length=200)]
    last_name: Annotated[str, Meta(max_length=200)]
    email: Annotated[str, Meta(max_length=320)]
    phone: Annotated[str, Meta(max_length=40)]


class ProjectIn(Request):
    timeline: Literal["asap", "lt_3_months", "3_6_months", "gt_6_months", "curious"]
    is_owner: bool


class ConsentIn(Request):
    """The agencies whose box the person ticked, and the proof: how each was ticked (`box`, its
    own box; `all`, the explicit "all agencies" control; an agency left out is recorded as
    `declared`) and the origin of the page that embedded the form."""

    agency_ids: Annotated[list[uuid.UUID], Meta(max_length=50)]
    text_version: Annotated[str, Meta(max_length=100)]
    ticked_via: Annotated[dict[uuid.UUID, Literal["box", "all"]], Meta(max_length=50)] = (
        msgspec.field(default_factory=dict)
    )
    embedding_origin: Annotated[str, Meta(max_length=300)] | None = None


class LeadIn(Request):
    """Step 2. `website` is a honeypot that people never see: send it empty."""

    contact: ContactIn
    project: ProjectIn
    consent: ConsentIn
    website: Annotated[str, Meta(max_length=500)] | None = None


class LeadReceiptOut(Struct):
    lead_id: uuid.UUID
    status: Literal["received"]


class ConsentTextOut(Struct):
    version: str
    lang: str
    text: str
