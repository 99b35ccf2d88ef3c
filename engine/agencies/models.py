"""Agencies and their zones."""

from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2 import Geography, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base
from engine.geo import models as _geo  # noqa: F401 - the tables our foreign keys name

STATUSES = ("active", "suspended")


class Agency(Base):
    __tablename__ = "agency"
    __table_args__ = (
        # The allowed radius (docs/rules.md §3) is a database rule: no code path can store another.
        CheckConstraint("radius_m BETWEEN 5000 AND 50000", name="radius_range"),
        CheckConstraint("siret ~ '^[0-9]{14}$'", name="siret_format"),
        CheckConstraint("status IN ('active', 'suspended')", name="status"),
        CheckConstraint("monthly_budget_cents IS NULL OR monthly_budget_cents >= 0", name="budget"),
        CheckConstraint("length(btrim(name)) BETWEEN 1 AND 200", name="name"),
        Index("ix_agency_zone_center", "zone_center", postgresql_using="gist"),
        Index("uq_agency_siret", "siret", unique=True),
        CheckConstraint("registered_postcode ~ '^[0-9]{5}$'", name="registered_postcode"),
        CheckConstraint(
            "length(btrim(registered_street)) BETWEEN 1 AND 200"
            " AND length(btrim(registered_city)) BETWEEN 1 AND 100",
            name="registered_address_lines",
        ),
        # A directory address (scheme 0225): the SIREN, optionally with a suffix.
        CheckConstraint(
            "einvoicing_address ~ '^[0-9]{9}(_[A-Za-z0-9.+-]{1,100})?$'", name="einvoicing_address"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(Text)
    siret: Mapped[str] = mapped_column(String(14))
    email: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    office: Mapped[WKBElement] = mapped_column(Geography("POINT", srid=4326, spatial_index=False))
    office_commune_code: Mapped[str | None] = mapped_column(ForeignKey("commune.code"))
    zone_center: Mapped[WKBElement] = mapped_column(
        Geography("POINT", srid=4326, spatial_index=False)
    )
    radius_m: Mapped[int] = mapped_column(Integer)
    accepts_extended_leads: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'active'"))
    paused: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # The owner asks every person of the agency for a second factor at sign-in (Espace Pro).
    require_second_factor: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    monthly_budget_cents: Mapped[int | None] = mapped_column(BigInteger)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    # Stripe: the customer, and the saved card or mandate used off-session for invoices.
    stripe_customer_id: Mapped[str | None] = mapped_column(Text)
    stripe_payment_method_id: Mapped[str | None] = mapped_column(Text)
    # Why the agency is suspended: 'unpaid' (lifted by the payment) or 'staff'.
    suspension_reason: Mapped[str | None] = mapped_column(Text)
    # The key our webhooks are signed with (HMAC-SHA256); the agency reads it, we never log it.
    webhook_secret: Mapped[str] = mapped_column(
        Text,
        server_default=text("replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')"),
    )
    # After a rotation, the previous secret still signs (beside the new one) until this time.
    previous_webhook_secret: Mapped[str | None] = mapped_column(Text)
    previous_webhook_secret_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The registered office (siège) an invoice names; none yet: the agency is not billed.
    registered_street: Mapped[str | None] = mapped_column(Text)
    registered_postcode: Mapped[str | None] = mapped_column(Text)
    registered_city: Mapped[str | None] = mapped_column(Text)
    # Where e-invoices reach the agency (directory address); none means its SIREN.
    einvoicing_address: Mapped[str | None] = mapped_column(Text)
    is_demo: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    communes: Mapped[list[AgencyCommune]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="AgencyCommune.commune_code"
    )


class AgencyCommune(Base):
    """A commune an agency also covers, whatever its distance."""

    __tablename__ = "agency_commune"
    __table_args__ = (Index("ix_agency_commune_commune_code", "commune_code"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="CASCADE"), primary_key=True
    )
    commune_code: Mapped[str] = mapped_column(ForeignKey("commune.code"), primary_key=True)


class AgencyApplication(Base):
    """An agency asking to join Mandat (engine/agencies/applications.py); an admin decides
    (decisions.py)."""

    __tablename__ = "agency_application"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'refused')", name="status"),
        CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided"),
        CheckConstraint("status <> 'refused' OR length(btrim(refusal_reason)) > 0", name="reason"),
        # One open application per SIRET at a time.
        Index(
            "uq_agency_application_pending_siret",
            "siret",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_agency_application_status", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    name: Mapped[str] = mapped_column(Text)
    siret: Mapped[str] = mapped_column(String(14))
    card_number: Mapped[str] = mapped_column(Text)
    street: Mapped[str] = mapped_column(Text)
    postal_code: Mapped[str] = mapped_column(String(5))
    city: Mapped[str] = mapped_column(Text)
    commune_code: Mapped[str] = mapped_column(String(5))
    contact_name: Mapped[str] = mapped_column(Text)
    contact_email: Mapped[str] = mapped_column(Text)
    contact_phone: Mapped[str | None] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(2), server_default=text("'fr'"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[uuid.UUID | None]
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    agency_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agency.id", ondelete="SET NULL")
    )
