"""Offers, purchases, the ledger and idempotency keys: what an agency buys, and what it owes.

The guarantees of docs/rules.md §5 are constraints here, so that no code path can break them: one
exclusive buyer (a partial unique index and the offer's own check), at most `shared_cap` shared
buyers (a counter the offer checks), one purchase per agency and lead (unique), one execution per
idempotency key (primary key).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.intake import models as _intake  # noqa: F401 - the tables our foreign keys name
from engine.people import models as _people  # noqa: F401
from engine.pricing import models as _pricing  # noqa: F401

PIPELINE = ("new", "contacted", "appointment", "mandate_signed", "lost")


class Offer(Base):
    """A qualified lead on sale: exclusive until `exclusive_until`, then shared, until
    `expires_at`. Prices are quoted once, when the lead is qualified, and never change."""

    __tablename__ = "offer"
    __table_args__ = (
        CheckConstraint("shared_buyers BETWEEN 0 AND shared_cap", name="shared_cap"),
        CheckConstraint("NOT (exclusive_buyer IS NOT NULL AND shared_buyers > 0)", name="one_mode"),
        CheckConstraint("exclusive_price_cents > shared_price_cents", name="exclusive_dearer"),
        CheckConstraint("shared_price_cents >= 0", name="price_positive"),
        CheckConstraint(
            "created_at <= exclusive_until AND exclusive_until <= expires_at", name="timeline"
        ),
        Index("ix_offer_open", "expires_at", postgresql_where=text("withdrawn_at IS NULL")),
    )

    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lead.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    exclusive_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    shared_cap: Mapped[int] = mapped_column(SmallInteger)
    exclusive_price_cents: Mapped[int] = mapped_column(BigInteger)
    shared_price_cents: Mapped[int] = mapped_column(BigInteger)
    price_grid_version: Mapped[int] = mapped_column(ForeignKey("price_grid.version"))
    price_factors: Mapped[dict[str, Any]] = mapped_column(JSONB)
    exclusive_buyer: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agency.id"))
    shared_buyers: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    # The last phase the scheduler announced (reads never depend on it: they use the clock).
    announced: Mapped[str] = mapped_column(String(16), server_default=text("'none'"))
    # What every agency sees before buying (commune, property, estimate, project) as JSON text,
    # rendered by the database when the offer opens, dropped when it is withdrawn (0029).
    card: Mapped[str | None] = mapped_column(Text)


class CatalogueEntry(Base):
    """One offer an agency may still buy (consent not withdrawn, not bought, offer not sold out
    nor withdrawn; expiry is read from the clock): what the catalogue's sorts and filters read.
    Kept by triggers under the offer's row lock (migration 0029), purged after `expires_at`."""

    __tablename__ = "catalogue_entry"
    __table_args__ = (
        Index(
            "ix_catalogue_entry_agency_id_created_at_lead_id", "agency_id", "created_at", "lead_id"
        ),
        Index(
            "ix_catalogue_entry_agency_id_distance_m_lead_id", "agency_id", "distance_m", "lead_id"
        ),
        Index(
            "ix_catalogue_entry_agency_id_shared_price_cents_lead_id",
            "agency_id",
            "shared_price_cents",
            "lead_id",
        ),
        Index("ix_catalogue_entry_agency_id_exclusive_until", "agency_id", "exclusive_until"),
        Index("ix_catalogue_entry_lead_id", "lead_id"),
        Index("ix_catalogue_entry_expires_at", "expires_at"),
    )

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="CASCADE"), primary_key=True
    )
    lead_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("offer.lead_id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    exclusive_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    exclusive_price_cents: Mapped[int] = mapped_column(BigInteger)
    shared_price_cents: Mapped[int] = mapped_column(BigInteger)
    distance_m: Mapped[float] = mapped_column(DOUBLE_PRECISION)
    reach: Mapped[str] = mapped_column(String(16))
    grade: Mapped[str] = mapped_column(String(1))
    property_type: Mapped[str] = mapped_column(String(16))


class Purchase(Base):
    __tablename__ = "purchase"
    __table_args__ = (
        CheckConstraint("mode IN ('exclusive', 'shared')", name="mode"),
        CheckConstraint(f"pipeline_status IN {PIPELINE!r}", name="pipeline_status"),
        CheckConstraint("price_cents >= 0", name="price"),
        UniqueConstraint("lead_id", "agency_id", name="uq_purchase_once_per_agency"),
        Index(
            "uq_purchase_one_exclusive",
            "lead_id",
            unique=True,
            postgresql_where=text("mode = 'exclusive'"),
        ),
        Index("ix_purchase_agency_created", "agency_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offer.lead_id"))
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"))
    mode: Mapped[str] = mapped_column(String(16))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    bought_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_key.id"))
    # Bought in Espace Pro by a person of the agency (no key).
    bought_by_person: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agency_user.id"))
    pipeline_status: Mapped[str] = mapped_column(String(16), server_default=text("'new'"))
    notes: Mapped[str] = mapped_column(Text, server_default=text("''"))
    # Why this agency could buy: candidates, rank, reach, rule and price-grid versions, clock.
    allocation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Speed to lead: the first call or e-mail logged, and the reminders sent while it was awaited.
    first_contact_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    buyer_reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    owner_reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The collaborator who works the contact (none: whoever bought it).
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agency_user.id", ondelete="SET NULL")
    )


class LedgerLine(Base):
    """Append-only money owed (positive) or credited (negative) by an agency, in cents HT."""

    __tablename__ = "ledger_line"
    __table_args__ = (
        CheckConstraint("kind IN ('purchase', 'refund')", name="kind"),
        CheckConstraint("(kind = 'purchase') = (amount_cents >= 0)", name="sign_follows_kind"),
        Index(
            "uq_ledger_line_one_per_purchase",
            "purchase_id",
            unique=True,
            postgresql_where=text("kind = 'purchase'"),
        ),
        Index("ix_ledger_line_agency_created", "agency_id", "created_at"),
        UniqueConstraint("id", "purchase_id"),  # what a document line refers to
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"))
    purchase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchase.id"))
    kind: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AgencyMonthSpend(Base):
    """What an agency spent on leads in a month (Paris time): the sum of that month's purchase
    lines of the ledger, kept by a trigger on `ledger_line` (migration 0028), so the monthly
    budget is checked without summing the month."""

    __tablename__ = "agency_month_spend"

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day
    cents: Mapped[int] = mapped_column(BigInteger)


class IdempotencyKey(Base):
    """One execution per (agency, key): the first request's body hash and its answer."""

    __tablename__ = "idempotency_key"

    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
