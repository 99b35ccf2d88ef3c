"""Invoices and credit notes (Mandat's own legal documents), their gap-free numbers, payment
attempts through Stripe, Stripe events received, dunning and billing runs (docs/rules.md §7).
Their Factur-X, e-reporting and the approved platform's records are in `einvoicing_models`.

Guarantees held by the database: one invoice per (agency, period) ever; each ledger line on one
document at most; one number per document, numbers unique per series; one payment attempt per
(invoice, attempt number) written before Stripe is called; each Stripe event stored once.
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
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base
from engine.sales import models as _sales  # noqa: F401 - the tables our foreign keys name

DOCUMENT_TYPES = ("invoice", "credit_note")


class NumberSeries(Base):
    """The last number given per document type and year: taken under the row's lock, inside
    the transaction that writes the document, so a rolled-back document leaves no gap."""

    __tablename__ = "number_series"
    __table_args__ = (CheckConstraint(f"doc_type IN {DOCUMENT_TYPES!r}", name="doc_type"),)

    doc_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class Invoice(Base):
    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("agency_id", "period", name="uq_invoice_agency_period"),
        UniqueConstraint("number", name="uq_invoice_number"),
        CheckConstraint("status IN ('open', 'paid', 'payment_failed')", name="status"),
        CheckConstraint("extract(day FROM period) = 1", name="period_is_a_month"),
        CheckConstraint("total_ttc_cents = total_ht_cents + vat_cents", name="totals"),
        Index("ix_invoice_status", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"))
    period: Mapped[date] = mapped_column(Date)  # the month billed, as its first day
    number: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[date] = mapped_column(Date)
    seller: Mapped[dict[str, Any]] = mapped_column(JSONB)
    buyer: Mapped[dict[str, Any]] = mapped_column(JSONB)
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    total_ht_cents: Mapped[int] = mapped_column(BigInteger)
    vat_cents: Mapped[int] = mapped_column(BigInteger)
    total_ttc_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'open'"))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("billing_run.id"))


class CreditNote(Base):
    """An avoir: money given back on a paid invoice (a refund), with its own number series."""

    __tablename__ = "credit_note"
    __table_args__ = (
        UniqueConstraint("number", name="uq_credit_note_number"),
        CheckConstraint("total_ttc_cents = total_ht_cents + vat_cents", name="totals"),
        CheckConstraint("total_ht_cents >= 0", name="positive"),
        CheckConstraint(
            "refund_status IN ('pending', 'refunded', 'failed', 'deducted')", name="refund_status"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"))
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoice.id"))
    number: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seller: Mapped[dict[str, Any]] = mapped_column(JSONB)
    buyer: Mapped[dict[str, Any]] = mapped_column(JSONB)
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    # Amounts credited, as positive numbers (the document says "avoir").
    total_ht_cents: Mapped[int] = mapped_column(BigInteger)
    vat_cents: Mapped[int] = mapped_column(BigInteger)
    total_ttc_cents: Mapped[int] = mapped_column(BigInteger)
    refund_status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    stripe_refund_id: Mapped[str | None] = mapped_column(Text)


class DocumentLine(Base):
    """One ledger line on one document: a lead bought (invoice) or refunded (invoice as a
    negative line, or credit note). A ledger line is billed once, ever."""

    __tablename__ = "document_line"
    __table_args__ = (
        UniqueConstraint("ledger_line_id", name="uq_document_line_ledger_line"),
        CheckConstraint("(invoice_id IS NULL) <> (credit_note_id IS NULL)", name="one_document"),
        # The ledger line and its purchase, checked as one: the purchase is the ledger line's.
        ForeignKeyConstraint(
            ["ledger_line_id", "purchase_id"], ["ledger_line.id", "ledger_line.purchase_id"]
        ),
        Index(
            "ix_document_line_invoice",
            "invoice_id",
            postgresql_where=text("invoice_id IS NOT NULL"),
        ),
        Index(
            "ix_document_line_credit_note",
            "credit_note_id",
            postgresql_where=text("credit_note_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # Checked at commit: a billing batch writes its lines before it takes its numbers (0041).
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("invoice.id", deferrable=True, initially="DEFERRED")
    )
    credit_note_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("credit_note.id"))
    ledger_line_id: Mapped[int] = mapped_column(BigInteger)
    purchase_id: Mapped[uuid.UUID] = mapped_column()
    description: Mapped[str] = mapped_column(Text)
    amount_ht_cents: Mapped[int] = mapped_column(BigInteger)


class PaymentAttempt(Base):
    """One try at collecting an invoice, written (and committed) before Stripe is called: a
    crash after the call can never lead to a second charge under another key."""

    __tablename__ = "payment_attempt"
    __table_args__ = (
        UniqueConstraint("invoice_id", "attempt", name="uq_payment_attempt"),
        CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'unreachable')", name="status"
        ),
        Index(
            "uq_payment_attempt_one_success",
            "invoice_id",
            unique=True,
            postgresql_where=text("status = 'succeeded'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoice.id"))
    attempt: Mapped[int] = mapped_column(SmallInteger)
    idempotency_key: Mapped[str] = mapped_column(Text)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StripeEvent(Base):
    """Each Stripe event id once: a replayed or duplicated webhook changes nothing."""

    __tablename__ = "stripe_event"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    type: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # Emptied once reconciliation no longer looks back that far (retention_stripe_event_days).
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Dunning(Base):
    """An unpaid invoice's reminders and the suspension it led to; closed when paid."""

    __tablename__ = "dunning"
    __table_args__ = (
        Index(
            "uq_dunning_open_per_invoice",
            "invoice_id",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"))
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoice.id"))
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reminded_3_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminded_7_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BillingRun(Base):
    __tablename__ = "billing_run"
    __table_args__ = (
        Index(
            "ix_billing_run_requested", "requested_at", postgresql_where=text("started_at IS NULL")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    period: Mapped[date] = mapped_column(Date)
    # A run asked for over the API waits, not started, for the scheduler.
    requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_key.id"))
    started_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    invoices: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    charged: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    failed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
