"""What the billing services answer: typed read models, never JSON-shaped dicts.

A document's seller and buyer are the identities stored with it (JSON, as printed on the
document); everything else is a named field.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from engine.billing.documents import VatGroup


@dataclass(frozen=True)
class DocumentLineRecord:
    description: str
    amount_ht_cents: int
    purchase_id: uuid.UUID | None


@dataclass(frozen=True)
class DocumentRecord:
    """An invoice or a credit note as stored, with its lines and VAT per category and rate."""

    id: uuid.UUID
    # invoice or credit_note
    type: str
    number: str
    agency_id: uuid.UUID
    issued_at: datetime
    seller: dict[str, Any]
    buyer: dict[str, Any]
    vat_rate_bp: int
    total_ht_cents: int
    vat_cents: int
    total_ttc_cents: int
    vat_category: str
    lines: list[DocumentLineRecord]
    vat_breakdown: list[VatGroup]


@dataclass(frozen=True)
class InvoiceRecord(DocumentRecord):
    # YYYY-MM
    period: str
    due_at: date
    status: str
    paid_at: datetime | None


@dataclass(frozen=True)
class CreditNoteRecord(DocumentRecord):
    invoice_id: uuid.UUID
    invoice_number: str
    invoice_issued_at: datetime
    refund_status: str


@dataclass(frozen=True)
class IncompleteAgency:
    """An agency a run left unbilled: its invoice could not name its registered address."""

    id: uuid.UUID
    name: str
    siret: str
    email: str
    missing: list[str]


@dataclass(frozen=True)
class BillingRunState:
    """A month's billing run: requested, running or finished, with its counts."""

    id: uuid.UUID
    # YYYY-MM
    period: str
    status: str
    requested_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    invoices: int
    charged: int
    failed: int
    incomplete_agencies: list[IncompleteAgency]


@dataclass(frozen=True)
class FinishedBillingRun(BillingRunState):
    """A finished run with the month's invoices (first 200)."""

    documents: list[InvoiceRecord]


@dataclass(frozen=True)
class ReportedSale:
    """A document to e-report (outside French VAT), as the approved platform takes it."""

    number: str
    # 380 invoice, 381 credit note
    type_code: str
    issued_on: date
    agency_id: uuid.UUID
    buyer_name: str | None
    buyer_siren: str | None
    departement: str | None
    vat_category: str
    total_ht_cents: int
    vat_cents: int
    total_ttc_cents: int


@dataclass(frozen=True)
class SalesReport:
    """A month's documents to e-report rather than e-invoice."""

    # YYYY-MM
    period: str
    items: list[ReportedSale]


@dataclass(frozen=True)
class ReportedPayment:
    """A payment whose VAT is due on receipt, its amounts as recorded when it happened (a
    credit note paid back is negative)."""

    paid_on: date
    number: str
    type_code: str
    agency_id: uuid.UUID
    buyer_siren: str | None
    vat_rate_bp: int
    base_cents: int
    vat_cents: int
    amount_cents: int
    einvoiced: bool


@dataclass(frozen=True)
class PaymentReport:
    """A month's payment data; `note` says why the list may be empty."""

    # YYYY-MM
    period: str
    vat_on_debits: bool
    note: str | None
    items: list[ReportedPayment]


@dataclass(frozen=True)
class ExcludedDocument:
    """A document that is not an e-invoice, with why (a stable code and a sentence)."""

    type: str
    id: uuid.UUID
    number: str
    issued_at: datetime
    issued_on: date
    agency_id: uuid.UUID
    code: str
    reason: str
    recorded_at: datetime


@dataclass(frozen=True)
class StoredPdf:
    """A document's Factur-X as stored: the same bytes every time, and their SHA-256."""

    number: str
    pdf: bytes
    sha256: str
