"""E-invoicing and e-reporting records (docs/einvoicing.md): each document's Factur-X, its
hand-over to an approved platform and the lifecycle statuses the platform reports, the documents
that are not e-invoices, and the payments reported for the VAT on receipts. All append-only.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.billing import models as _documents  # noqa: F401 - the tables our foreign keys name
from engine.db import Base

# What an approved platform reports of an e-invoice (the reform's lifecycle statuses).
LIFECYCLE = (
    "deposited", "issued", "received", "made_available", "in_hand", "approved",
    "partially_approved", "disputed", "suspended", "completed", "refused", "rejected",
    "payment_sent", "paid",
)  # fmt: skip


class EInvoice(Base):
    """A document's Factur-X: its CII XML and its PDF/A-3b, written once after the document is
    issued, never regenerated (append-only); the hash is checked against the stored bytes."""

    __tablename__ = "einvoice"
    __table_args__ = (
        UniqueConstraint("invoice_id"),
        UniqueConstraint("credit_note_id"),
        CheckConstraint("(invoice_id IS NULL) <> (credit_note_id IS NULL)", name="one_document"),
        CheckConstraint("pdf_sha256 = encode(sha256(pdf), 'hex')", name="pdf_sha256"),
        CheckConstraint("vat_category IN ('S', 'O')", name="vat_category"),
        Index("ix_einvoice_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoice.id"))
    credit_note_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("credit_note.id"))
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"))
    number: Mapped[str] = mapped_column(Text)
    vat_category: Mapped[str] = mapped_column(String(2))
    xml: Mapped[bytes] = mapped_column(LargeBinary)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EInvoiceTransmission(Base):
    """An e-invoice handed to an approved platform, once per platform."""

    __tablename__ = "einvoice_transmission"
    __table_args__ = (UniqueConstraint("einvoice_id", "platform"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    einvoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("einvoice.id"))
    platform: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    transmitted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class EInvoiceStatus(Base):
    """A lifecycle status an approved platform reported for an e-invoice (append-only)."""

    __tablename__ = "einvoice_status"
    __table_args__ = (
        UniqueConstraint("einvoice_id", "platform", "status", "reported_at"),
        CheckConstraint(f"status IN {LIFECYCLE!r}", name="status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    einvoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("einvoice.id"))
    platform: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class DocumentPayment(Base):
    """A payment as the VAT on receipts sees it, written once when it happens: an invoice
    collected (its total less the credit notes deducted from the charge) or a credit note paid
    back (negative amounts). Its amounts are fixed then, never recomputed (append-only)."""

    __tablename__ = "document_payment"
    __table_args__ = (
        UniqueConstraint("invoice_id"),
        UniqueConstraint("credit_note_id"),
        CheckConstraint("(invoice_id IS NULL) <> (credit_note_id IS NULL)", name="one_document"),
        CheckConstraint("amount_cents = base_cents + vat_cents", name="amounts"),
        Index("ix_document_payment_paid_at", "paid_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoice.id"))
    credit_note_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("credit_note.id"))
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    base_cents: Mapped[int] = mapped_column(BigInteger)
    vat_cents: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)


class PaymentTransmission(Base):
    """A payment handed to an approved platform as its document's "paid" status, once."""

    __tablename__ = "payment_transmission"
    __table_args__ = (UniqueConstraint("document_payment_id", "platform"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    document_payment_id: Mapped[int] = mapped_column(ForeignKey("document_payment.id"))
    platform: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    transmitted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class EInvoiceExclusion(Base):
    """A document that is not an e-invoice: its stored record cannot make a valid Factur-X
    (written before the data the mentions need was kept). It stays a JSON and HTML document;
    the `einvoices` job no longer tries it; finance reads the reason (append-only)."""

    __tablename__ = "einvoice_exclusion"
    __table_args__ = (
        UniqueConstraint("invoice_id"),
        UniqueConstraint("credit_note_id"),
        CheckConstraint("(invoice_id IS NULL) <> (credit_note_id IS NULL)", name="one_document"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoice.id"))
    credit_note_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("credit_note.id"))
    code: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
