"""The form's two steps: an estimation request (no personal data), then the lead."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geography, WKBElement
from sqlalchemy import (
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    column,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base

# Where the property is placed: its address point, the centre of its street, coordinates sent by
# the embedding site, or the town hall of its commune.
LOCATION_PRECISIONS = ("address", "street", "coordinates", "town_hall")


class Estimation(Base):
    __tablename__ = "estimation"
    __table_args__ = (
        CheckConstraint(
            "property_type IN ('appartement', 'maison', 'terrain', 'autre')", name="property_type"
        ),
        CheckConstraint("surface_m2 BETWEEN 5 AND 10000", name="surface"),
        CheckConstraint(
            f"location_precision IN {LOCATION_PRECISIONS!r}", name="location_precision"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    source: Mapped[str | None] = mapped_column(Text)
    # The origin of the page that framed the form (as the form saw it), or the form's own.
    embedding_origin: Mapped[str | None] = mapped_column(Text)
    property_type: Mapped[str] = mapped_column(String(16))
    surface_m2: Mapped[float] = mapped_column(Numeric(8, 2))
    # Every property fact as given (rooms, floor, lift, …), for the lead and the catalogue.
    property: Mapped[dict[str, Any]] = mapped_column(JSONB)
    postal_code: Mapped[str] = mapped_column(String(5))
    commune_code: Mapped[str] = mapped_column(ForeignKey("commune.code"))
    # The street as typed: shown to an agency only once it has bought the lead.
    street: Mapped[str | None] = mapped_column(Text)
    location: Mapped[WKBElement] = mapped_column(Geography("POINT", srid=4326, spatial_index=False))
    location_precision: Mapped[str] = mapped_column(String(16))
    estimate: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The agencies named to the homeowner, ranked, with reach and distance, and the rules used.
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    matching_rules: Mapped[dict[str, Any]] = mapped_column(JSONB)


class ConsentText(Base):
    """A published wording of the consent the homeowner gives. Never edited: a new wording is a new
    version, so the text behind every stored consent can be shown word for word."""

    __tablename__ = "consent_text"

    version: Mapped[str] = mapped_column(Text, primary_key=True)
    lang: Mapped[str] = mapped_column(String(2))
    body: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


LEAD_STATUSES = ("qualified", "quarantined", "duplicate")


def _no_overlapping_original(name: str, contact: str) -> ExcludeConstraint:
    """At most one sellable lead per contact (phone or e-mail) and commune in any dedupe window:
    the database, not a check in Python, settles two submits racing each other."""
    return ExcludeConstraint(
        (column("commune_code"), "="),
        (column(contact), "="),
        (func.tstzrange(column("created_at"), column("dedupe_until")), "&&"),
        name=name,
        using="gist",
        where=column("status") == "qualified",
    )


class Lead(Base):
    """Step 2: the homeowner's contact, project and consent, qualified before any sale."""

    __tablename__ = "lead"
    __table_args__ = (
        CheckConstraint(f"status IN {LEAD_STATUSES!r}", name="status"),
        CheckConstraint(
            "timeline IN ('asap', 'lt_3_months', '3_6_months', 'gt_6_months', 'curious')",
            name="timeline",
        ),
        CheckConstraint("score BETWEEN 0 AND 100", name="score"),
        CheckConstraint("grade IN ('A', 'B', 'C')", name="grade"),
        CheckConstraint("(status = 'duplicate') = (duplicate_of IS NOT NULL)", name="duplicate"),
        CheckConstraint("dedupe_until > created_at", name="dedupe_window"),
        CheckConstraint(
            "contact_confirmed_at IS NULL OR disowned_at IS NULL", name="confirmed_or_disowned"
        ),
        _no_overlapping_original("lead_one_original_per_phone", "phone_e164"),
        _no_overlapping_original("lead_one_original_per_email", "email_key"),
        Index("ix_lead_client_ip_created_at", "client_ip", "created_at"),
        Index("ix_lead_phone_e164_created_at", "phone_e164", "created_at"),
        Index("ix_lead_email_key_created_at", "email_key", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    estimation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("estimation.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    commune_code: Mapped[str] = mapped_column(ForeignKey("commune.code"))
    first_name: Mapped[str | None] = mapped_column(Text)
    last_name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    # What duplicates are found by: the address without case.
    email_key: Mapped[str | None] = mapped_column(Text, Computed("lower(email)"))
    phone_e164: Mapped[str | None] = mapped_column(String(16))
    timeline: Mapped[str] = mapped_column(String(16))
    is_owner: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(SmallInteger)
    grade: Mapped[str] = mapped_column(String(1))
    # Why the score is what it is, and why a lead is quarantined: machine codes, staff-only.
    score_reasons: Mapped[list[str]] = mapped_column(JSONB)
    quarantine_reasons: Mapped[list[str]] = mapped_column(JSONB)
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead.id"))
    dedupe_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    consent_text_version: Mapped[str] = mapped_column(ForeignKey("consent_text.version"))
    consented_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The origin of the page that embedded the form when the boxes were ticked, as the form saw
    # it (`location.ancestorOrigins`, else the referrer); Mandat's own when not embedded.
    consent_origin: Mapped[str | None] = mapped_column(Text)
    client_ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(Text)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # When the homeowner erased their data: personal fields are then empty.
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The homeowner's links name this generation: bumping it revokes every link sent before.
    token_generation: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # "C'est bien moi" (the contact is the homeowner's), or "ce n'était pas moi" (withdrawn,
    # buyers refunded): whichever came first, never both.
    contact_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disowned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


CONSENT_TICKS = ("box", "all", "declared", "preticked")


class LeadConsent(Base):
    """One agency the homeowner agreed may contact them: only these can ever buy the lead."""

    __tablename__ = "lead_consent"
    __table_args__ = (
        Index("ix_lead_consent_agency_id", "agency_id"),
        CheckConstraint(f"ticked_via IN {CONSENT_TICKS!r}", name="ticked_via"),
    )

    lead_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("lead.id", ondelete="CASCADE"), primary_key=True
    )
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    # The agency's rank, name, distance and reach as the homeowner saw them when ticking the box.
    rank: Mapped[int] = mapped_column(SmallInteger)
    agency_name: Mapped[str] = mapped_column(Text)
    distance_m: Mapped[float] = mapped_column(Numeric(9, 1))
    reach: Mapped[str] = mapped_column(String(16))
    # How the person ticked this agency: `box` (its own box), `all` (the explicit "all agencies"
    # control), `declared` (an API client that did not say); `preticked` marks the consents taken
    # when the form showed the boxes ticked in advance: not consent, their offers were withdrawn.
    ticked_via: Mapped[str] = mapped_column(String(16))
    # When the homeowner withdrew this agency's consent (the private link): never sold again.
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
