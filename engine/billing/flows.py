"""Billing as its callers use it (the API, the agency's pages, finance): each service checks
the caller and owns its unit of work. Finance reads every agency's documents, an agency its
own, an admin none."""

from __future__ import annotations

import uuid
from dataclasses import asdict, fields
from datetime import UTC, datetime

from engine.accounts.keys import Principal
from engine.billing import stripe_gateway as gateway
from engine.billing.einvoice import exclusions, stored_pdf
from engine.billing.ereporting import ereporting_payments, ereporting_sales
from engine.billing.printable import printable_page
from engine.billing.read_models import (
    BillingRunState,
    DocumentRecord,
    ExcludedDocument,
    FinishedBillingRun,
    InvoiceRecord,
    PaymentReport,
    SalesReport,
    StoredPdf,
)
from engine.billing.requested_runs import request_run, run_status
from engine.billing.run import parse_period
from engine.billing.stripe_events import Outcome, handle_event
from engine.billing.views import document, list_documents
from engine.db import unit_of_work
from engine.errors import MandatError
from engine.pagination import Page
from engine.replica import read_lagging


def ask_for_billing_run(caller: Principal, period: str) -> BillingRunState:
    """Finance. The run is recorded here and done by the scheduler."""
    caller.require("finance")
    month = parse_period(period)
    with unit_of_work() as session:
        run_id = request_run(session, month, datetime.now(UTC), caller)
        return run_status(session, run_id)


def billing_run(caller: Principal, run_id: uuid.UUID) -> BillingRunState:
    """Finance. Once finished, with the month's invoices (first 200): a `FinishedBillingRun`."""
    caller.require("finance")
    with unit_of_work() as session:
        found = run_status(session, run_id)
        if found.status != "finished":
            return found
        month = parse_period(found.period)
        documents, _ = list_documents(session, "invoice", None, None, 200, None, month)
    state = {field.name: getattr(found, field.name) for field in fields(found)}
    invoices = [doc for doc in documents if isinstance(doc, InvoiceRecord)]
    return FinishedBillingRun(**state, documents=invoices)


def billing_documents(
    caller: Principal, kind: str, status: str | None, limit: int, cursor: str | None
) -> Page[DocumentRecord]:
    """Invoices or credit notes (`kind`), newest first (from the replica when there is one)."""
    scope = _scope(caller)
    return read_lagging(
        lambda session: Page(*list_documents(session, kind, scope, status, limit, cursor))
    )


def billing_document(caller: Principal, kind: str, doc_id: uuid.UUID) -> DocumentRecord:
    """One document as stored (from the replica when there is one: issued, it never changes)."""
    scope = _scope(caller)
    return read_lagging(lambda session: document(session, kind, doc_id, scope))


def printable_document(caller: Principal, kind: str, doc_id: uuid.UUID) -> str:
    """The document's printable HTML page, with its payment status: the page its Factur-X PDF
    prints (without it), so it is made here, beside the PDF, not by the API."""
    return printable_page(asdict(billing_document(caller, kind, doc_id)))


def stored_document_pdf(caller: Principal, kind: str, doc_id: uuid.UUID) -> StoredPdf:
    """The document's Factur-X as stored (its bytes, number and SHA-256), issued now if it was
    not yet: the same bytes from then on."""
    scope = _scope(caller)
    with unit_of_work() as session:
        return stored_pdf(session, kind, doc_id, scope)


def ereporting(caller: Principal, period: str) -> SalesReport:
    """Finance. The month's documents to e-report rather than e-invoice."""
    caller.require("finance")
    month = parse_period(period)
    with unit_of_work() as session:
        return SalesReport(period=f"{month:%Y-%m}", items=ereporting_sales(session, month))


def payment_reporting(caller: Principal, period: str) -> PaymentReport:
    """Finance. The month's payments whose VAT is due on receipt (the reform's payment data)."""
    caller.require("finance")
    month = parse_period(period)
    with unit_of_work() as session:
        return ereporting_payments(session, month)


def einvoice_exclusions(
    caller: Principal, limit: int, cursor: str | None
) -> Page[ExcludedDocument]:
    """Finance. The documents that are not e-invoices, newest first, with the reason."""
    caller.require("finance")
    with unit_of_work() as session:
        return Page(*exclusions(session, limit, cursor))


def receive_stripe_event(payload: bytes, signature: str) -> Outcome:
    """A Stripe event, verified (signature, timestamp both ways) and stored once by id."""
    try:
        event = gateway.verify_event(payload, signature)
    except gateway.InvalidSignature as error:
        raise MandatError("The signature does not check out.", code="invalid_signature") from error
    with unit_of_work() as session:
        return handle_event(session, event)


def _scope(caller: Principal) -> uuid.UUID | None:
    if caller.role == "finance":
        return None
    return caller.agency()
