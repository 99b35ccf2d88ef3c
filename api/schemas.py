"""Request and response shapes (msgspec), kept apart from the database models.

Request bodies forbid unknown fields: a typo is a 422, never silently ignored.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct

from engine.intake.estimations import EstimationAnswer, EstimationRequest
from engine.intake.submissions import LeadSubmission

Latitude = Annotated[float, Meta(ge=-90, le=90)]
Longitude = Annotated[float, Meta(ge=-180, le=180)]
RadiusKm = Annotated[float, Meta(ge=5, le=50, description="5 to 50 km")]
# Up to a billion euros: any larger amount is a mistake, and it always fits a bigint.
Cents = Annotated[int, Meta(ge=0, le=100_000_000_000, description="euro cents, excluding VAT")]


T = TypeVar("T")


def shaped(value: Any, schema: type[T]) -> T:
    """An engine read model (dataclasses, nested) as the response schema that documents it."""
    return msgspec.convert(value, schema, from_attributes=True)


class Out(Struct, forbid_unknown_fields=True):
    """A response body. Shaped from an engine result, a field the schema does not declare is an
    error, never silently dropped: the document lists every field a client receives."""


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
    embedding_origin: (
        Annotated[
            str,
            Meta(
                max_length=300,
                description="the origin (scheme://host[:port]) of the page that framed the form",
            ),
        ]
        | None
    ) = None

    def request(self) -> EstimationRequest:
        """The engine's request: the property's optional facts as given, nothing else."""
        facts = {
            k: v
            for k, v in msgspec.structs.asdict(self.property).items()
            if v is not None and k not in ("type", "surface_m2")
        }
        return EstimationRequest(
            property_type=self.property.type,
            surface_m2=self.property.surface_m2,
            postal_code=self.address.postal_code,
            city=self.address.city,
            lat=self.address.lat,
            lon=self.address.lon,
            property_facts=facts,
            source=self.source,
            street=self.address.street,
            embedding_origin=self.embedding_origin,
        )


class AdjustmentOut(Struct):
    """One published factor the property's facts called for ("+4 % : balcon")."""

    key: str
    basis_points: Annotated[int, Meta(description="+400 is +4 %")]
    label_fr: str
    label_en: str


class EstimateOut(Struct):
    """`mid_eur` lies within [`low_eur`, `high_eur`]; `eur_per_m2` is the comparables' median
    before the property's `adjustments`. `confidence` is read from the comparables' count,
    dispersion (`dispersion_pct`), distance and age, and is never `high` when `synthetic`."""

    available: bool
    low_eur: int | None
    mid_eur: int | None
    high_eur: int | None
    eur_per_m2: int | None
    comparables: int
    confidence: Literal["high", "medium", "low", "none"]
    synthetic: bool
    adjustments: list[AdjustmentOut] = msgspec.field(default_factory=list)
    dispersion_pct: int | None = None
    median_distance_m: int | None = None
    median_age_months: int | None = None


class NamedAgencyOut(Struct):
    id: uuid.UUID
    name: str
    distance_km: float
    reach: Literal["zone", "communes", "extended_30", "extended_50"]


LocationPrecision = Literal["address", "street", "coordinates", "town_hall"]


class EstimationOut(Struct):
    id: uuid.UUID
    estimate: EstimateOut
    agencies: list[NamedAgencyOut]
    location_precision: Annotated[
        LocationPrecision,
        Meta(
            description="Where the distances are from: the address point, the centre of the"
            " street, the coordinates sent, or the town hall (the street was not found)"
        ),
    ]

    @classmethod
    def of(cls, answer: EstimationAnswer) -> EstimationOut:
        return cls(
            id=answer.id,
            estimate=msgspec.convert(answer.estimate, EstimateOut, from_attributes=True),
            agencies=[
                NamedAgencyOut(c.agency_id, c.agency_name, c.distance_km, c.reach)  # type: ignore[arg-type]
                for c in answer.agencies
            ],
            location_precision=answer.location_precision,  # type: ignore[arg-type]
        )


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

    def submission(self) -> LeadSubmission:
        return LeadSubmission(
            first_name=self.contact.first_name,
            last_name=self.contact.last_name,
            email=self.contact.email,
            phone=self.contact.phone,
            timeline=self.project.timeline,
            is_owner=self.project.is_owner,
            consent_agency_ids=self.consent.agency_ids,
            consent_text_version=self.consent.text_version,
            honeypot=self.website,
            consent_ticked_via=dict(self.consent.ticked_via),
            consent_origin=self.consent.embedding_origin,
        )


class LeadReceiptOut(Struct):
    lead_id: uuid.UUID
    status: Literal["received"]
    reference: Annotated[str, Meta(description="The request's short reference for people")]


class ConsentTextOut(Struct):
    version: str
    lang: str
    text: str
