"""Billing's shapes: runs, invoices and credit notes (with their lines), the payment method."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, UnsetType

from api.schemas import Out, Request


class RunIn(Request):
    period: Annotated[str, Meta(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]


class PaymentMethodIn(Request):
    payment_method_id: Annotated[str, Meta(min_length=3, max_length=255)]


class DocumentLineOut(Out):
    description: str
    amount_ht_cents: int
    purchase_id: uuid.UUID | None


Identity = Annotated[
    dict[str, Any],
    Meta(description="The party as printed on the document (name, SIRET, VAT number, address)"),
]


class VatGroupOut(Out):
    """The VAT of one category and rate (EN 16931: S standard, O outside the scope)."""

    category: str
    rate_bp: int
    base_cents: int
    vat_cents: int


class DocumentOut(Out, kw_only=True):
    id: uuid.UUID
    type: Literal["invoice", "credit_note"]
    number: str
    agency_id: uuid.UUID
    issued_at: datetime
    seller: Identity
    buyer: Identity
    vat_rate_bp: Annotated[int, Meta(description="VAT rate in basis points (2000 = 20 %)")]
    total_ht_cents: int
    vat_cents: int
    total_ttc_cents: int
    vat_category: Annotated[str, Meta(description="EN 16931 category: S, or O outside French VAT")]
    lines: list[DocumentLineOut]
    vat_breakdown: list[VatGroupOut]


class InvoiceOut(DocumentOut, kw_only=True):
    period: Annotated[str, Meta(description="YYYY-MM")]
    due_at: date
    status: Literal["open", "paid", "payment_failed"]
    paid_at: datetime | None


class CreditNoteOut(DocumentOut, kw_only=True):
    """A credit note corrects one invoice; `refund_status` says whether Stripe paid it back."""

    invoice_id: uuid.UUID
    invoice_number: str
    invoice_issued_at: datetime
    # deducted: the invoice's charge was made net of it (the credit note was issued before the
    # invoice was paid), so it is settled without a refund.
    refund_status: Literal["pending", "refunded", "failed", "deducted"]


class InvoicePage(Out):
    items: list[InvoiceOut]
    next_cursor: str | None


class CreditNotePage(Out):
    items: list[CreditNoteOut]
    next_cursor: str | None


class IncompleteAgencyOut(Out):
    """An agency the run left unbilled: its invoice could not name its registered address."""

    id: uuid.UUID
    name: str
    siret: str
    email: str
    missing: list[str]


class BillingRunOut(Out, omit_defaults=True):
    """A month's billing run: `requested`, then `running`, then `finished` with its counts;
    once finished, `documents` lists the month's invoices (first 200)."""

    id: uuid.UUID
    period: Annotated[str, Meta(description="YYYY-MM")]
    status: Literal["requested", "running", "finished"]
    requested_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    invoices: int
    charged: int
    failed: int
    incomplete_agencies: list[IncompleteAgencyOut]
    documents: list[InvoiceOut] | UnsetType = UNSET


class PaymentMethodOut(Out):
    payment_method_id: str
    retried_invoices: Annotated[
        dict[str, str],
        Meta(description="Each invoice that had failed, by id: what charging it again did"),
    ]


class StripeEventOut(Out):
    received: bool
    outcome: str


class ReportedSaleOut(Out):
    """A document to e-report (outside French VAT), as the approved platform takes it."""

    number: str
    type_code: Annotated[str, Meta(description="380 invoice, 381 credit note")]
    issued_on: date
    agency_id: uuid.UUID
    buyer_name: str | None
    buyer_siren: str | None
    departement: str | None
    vat_category: str
    total_ht_cents: int
    vat_cents: int
    total_ttc_cents: int


class EReportingOut(Out):
    period: Annotated[str, Meta(description="YYYY-MM")]
    items: list[ReportedSaleOut]


class ReportedPaymentOut(Out):
    """A payment whose VAT is due on receipt: collected on an invoice, or paid back on a credit
    note (negative), its amounts as recorded when it happened."""

    paid_on: Annotated[date, Meta(description="Date of collection (Paris)")]
    number: Annotated[str, Meta(description="The document paid")]
    type_code: Annotated[str, Meta(description="380 invoice, 381 credit note")]
    agency_id: uuid.UUID
    buyer_siren: str | None
    vat_rate_bp: Annotated[int, Meta(description="VAT rate in basis points (2000 = 20 %)")]
    base_cents: int
    vat_cents: int
    amount_cents: Annotated[int, Meta(description="Collected (negative: paid back), VAT incl.")]
    einvoiced: Annotated[
        bool,
        Meta(description="An e-invoice: its 'paid' status carries this payment to the platform"),
    ]


class PaymentReportingOut(Out):
    period: Annotated[str, Meta(description="YYYY-MM")]
    vat_on_debits: Annotated[bool, Meta(description="The VAT on debits option, as set now")]
    note: Annotated[str | None, Meta(description="Why the list may be empty")]
    items: list[ReportedPaymentOut]


class EInvoiceExclusionOut(Out):
    """A document that is not an e-invoice: its JSON and printable page are the document."""

    type: Literal["invoice", "credit_note"]
    id: uuid.UUID
    number: str
    issued_at: datetime
    issued_on: date
    agency_id: uuid.UUID
    code: Annotated[str, Meta(description="Why, as a stable code (document_incomplete, …)")]
    reason: str
    recorded_at: datetime


class EInvoiceExclusionPage(Out):
    items: list[EInvoiceExclusionOut]
    next_cursor: str | None
