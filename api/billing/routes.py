"""Billing over HTTP: runs (finance), invoices and credit notes (the agency's own, or all for
finance), the e-reporting lists, the agency's payment method; Stripe's webhook is in
`webhooks` (re-exported here with the controller)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, Response, get, post, put
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.auth import Caller, principal
from api.billing.exports import lines_csv, payments_csv, pdf, sales_csv
from api.billing.schemas import (
    BillingRunOut,
    CreditNoteOut,
    CreditNotePage,
    EInvoiceExclusionPage,
    EReportingOut,
    InvoiceOut,
    InvoicePage,
    PaymentMethodIn,
    PaymentMethodOut,
    PaymentReportingOut,
    RunIn,
)
from api.billing.webhooks import stripe_webhook
from api.contract import (
    AGENCY_KEY,
    KEYED,
    UNREADABLE,
    conflict,
    not_found,
    operation,
    payment_required,
)
from api.schemas import shaped
from engine.billing.flows import (
    ask_for_billing_run,
    billing_document,
    billing_documents,
    billing_run,
    einvoice_exclusions,
    ereporting,
    payment_reporting,
    printable_document,
    stored_document_pdf,
)
from engine.billing.payment_method import save_payment_method

__all__ = ["BillingController", "stripe_webhook"]

Limit = Annotated[int, QueryParameter(ge=1, le=200)]
Period = Annotated[str, QueryParameter(pattern=r"^\d{4}-\d{2}$")]
NOT_EINVOICED = conflict("not_einvoiced")


class BillingController(Controller):
    path = "/api/v1"
    tags = ["billing"]
    security = [{"BearerAuth": []}]
    dependencies = {"caller": Provide(principal, sync_to_thread=True)}

    @post(
        "/billing/runs",
        sync_to_thread=True,
        status_code=202,
        summary="Ask for a month's billing",
        **operation("requestBillingRun", *KEYED, UNREADABLE),
    )
    def run(self, caller: Caller, data: JSONBody[RunIn]) -> BillingRunOut:
        """Finance. The run is recorded and done by the scheduler within a minute (a month for
        every agency takes minutes: never inside a request); follow it at
        `GET /billing/runs/{id}`. Idempotent: a month billed again bills only what is left, and
        asking again while a run of that month waits answers that run."""
        return shaped(ask_for_billing_run(caller, data.period), BillingRunOut)

    @get(
        "/billing/runs/{run_id:uuid}",
        sync_to_thread=True,
        summary="A billing run",
        **operation("readBillingRun", *KEYED, not_found("billing_run_not_found")),
    )
    def run_state(self, caller: Caller, run_id: FromPath[uuid.UUID]) -> BillingRunOut:
        """Finance. `requested`, `running` or `finished`, with its counts; once finished, the
        month's invoices (first 200)."""
        return shaped(billing_run(caller, run_id), BillingRunOut)

    @get(
        "/invoices",
        sync_to_thread=True,
        summary="Invoices",
        **operation("listInvoices", *KEYED, AGENCY_KEY),
    )
    def invoices(
        self,
        caller: Caller,
        status: FromQuery[Literal["open", "paid", "payment_failed"] | None] = None,
        limit: Limit = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> InvoicePage:
        return shaped(billing_documents(caller, "invoice", status, limit, cursor), InvoicePage)

    @get(
        "/invoices/{doc_id:uuid}",
        sync_to_thread=True,
        summary="One invoice",
        **operation("readInvoice", *KEYED, AGENCY_KEY, not_found("invoice_not_found")),
    )
    def invoice(self, caller: Caller, doc_id: FromPath[uuid.UUID]) -> InvoiceOut:
        return shaped(billing_document(caller, "invoice", doc_id), InvoiceOut)

    @get(
        "/invoices/{doc_id:uuid}/html",
        sync_to_thread=True,
        summary="An invoice, printable",
        media_type="text/html",
        **operation("readInvoicePage", *KEYED, AGENCY_KEY, not_found("invoice_not_found")),
    )
    def invoice_page(self, caller: Caller, doc_id: FromPath[uuid.UUID]) -> Response[str]:
        return Response(printable_document(caller, "invoice", doc_id), media_type="text/html")

    @get(
        "/invoices/{doc_id:uuid}/lines.csv",
        sync_to_thread=True,
        summary="An invoice's lines",
        media_type="text/csv",
        **operation("readInvoiceLines", *KEYED, AGENCY_KEY, not_found("invoice_not_found")),
    )
    def invoice_lines(self, caller: Caller, doc_id: FromPath[uuid.UUID]) -> Response[str]:
        return lines_csv(billing_document(caller, "invoice", doc_id))

    @get(
        "/invoices/{doc_id:uuid}/pdf",
        sync_to_thread=True,
        summary="An invoice's Factur-X PDF",
        media_type="application/pdf",
        **operation(
            "readInvoicePdf", *KEYED, AGENCY_KEY, not_found("invoice_not_found"), NOT_EINVOICED
        ),
    )
    def invoice_pdf(self, caller: Caller, doc_id: FromPath[uuid.UUID]) -> Response[bytes]:
        """The Factur-X (PDF/A-3b with its EN 16931 XML) stored when the invoice was issued:
        the same bytes every time (`ETag`: their SHA-256). An invoice whose stored record cannot
        make one (issued before e-invoicing): 409 `not_einvoiced`, with the `reason`."""
        return pdf(stored_document_pdf(caller, "invoice", doc_id))

    @get(
        "/credit-notes",
        sync_to_thread=True,
        summary="Credit notes",
        **operation("listCreditNotes", *KEYED, AGENCY_KEY),
    )
    def credit_notes(
        self,
        caller: Caller,
        limit: Limit = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> CreditNotePage:
        page = billing_documents(caller, "credit_note", None, limit, cursor)
        return shaped(page, CreditNotePage)

    @get(
        "/credit-notes/{doc_id:uuid}",
        sync_to_thread=True,
        summary="One credit note",
        **operation("readCreditNote", *KEYED, AGENCY_KEY, not_found("credit_note_not_found")),
    )
    def credit_note(self, caller: Caller, doc_id: FromPath[uuid.UUID]) -> CreditNoteOut:
        return shaped(billing_document(caller, "credit_note", doc_id), CreditNoteOut)

    @get(
        "/credit-notes/{doc_id:uuid}/html",
        sync_to_thread=True,
        summary="A credit note, printable",
        media_type="text/html",
        **operation("readCreditNotePage", *KEYED, AGENCY_KEY, not_found("credit_note_not_found")),
    )
    def credit_note_page(self, caller: Caller, doc_id: FromPath[uuid.UUID]) -> Response[str]:
        page = printable_document(caller, "credit_note", doc_id)
        return Response(page, media_type="text/html")

    @get(
        "/credit-notes/{doc_id:uuid}/pdf",
        sync_to_thread=True,
        summary="A credit note's Factur-X PDF",
        media_type="application/pdf",
        **operation(
            "readCreditNotePdf",
            *KEYED,
            AGENCY_KEY,
            not_found("credit_note_not_found"),
            NOT_EINVOICED,
        ),
    )
    def credit_note_pdf(self, caller: Caller, doc_id: FromPath[uuid.UUID]) -> Response[bytes]:
        """The credit note's stored Factur-X (type 381, referencing the invoice it corrects)."""
        return pdf(stored_document_pdf(caller, "credit_note", doc_id))

    @get(
        "/billing/e-reporting",
        sync_to_thread=True,
        summary="Sales to e-report, per month",
        **operation("exportEReporting", *KEYED, also_as="text/csv"),
    )
    def e_reporting(
        self,
        caller: Caller,
        period: Period,
        format: FromQuery[Literal["json", "csv"]] = "json",
    ) -> Response[EReportingOut]:
        """Finance. The documents of a month that are not e-invoiced (agencies in Guyane and
        Mayotte, outside French VAT), for the approved platform's e-reporting."""
        report = ereporting(caller, period)
        if format == "csv":
            return sales_csv(report.items)
        return Response(shaped(report, EReportingOut))

    @get(
        "/billing/e-reporting/payments",
        sync_to_thread=True,
        summary="Payments to report, per month",
        **operation("exportPaymentReporting", *KEYED, also_as="text/csv"),
    )
    def payments_to_report(
        self,
        caller: Caller,
        period: Period,
        format: FromQuery[Literal["json", "csv"]] = "json",
    ) -> Response[PaymentReportingOut]:
        """Finance. The reform's payment data: each payment of the month whose VAT is due on
        receipt (services, without the VAT on debits option; not Guyane and Mayotte, which have
        no VAT), its date and amount per VAT rate as recorded when it happened, a credit note
        paid back negative. An e-invoice's payment also goes to the platform as its "paid"
        status; `einvoiced` says which. Under the VAT on debits option a `note` says so: only the
        payments of documents issued before the option remain."""
        report = payment_reporting(caller, period)
        if format == "csv":
            return payments_csv(report.items)
        return Response(shaped(report, PaymentReportingOut))

    @get(
        "/billing/einvoice-exclusions",
        sync_to_thread=True,
        summary="Documents that are not e-invoices",
        **operation("listEInvoiceExclusions", *KEYED),
    )
    def not_einvoiced(
        self,
        caller: Caller,
        limit: Limit = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> EInvoiceExclusionPage:
        """Finance. Invoices and credit notes whose stored record cannot make a valid Factur-X
        (issued before e-invoicing: no structured addresses, no SIREN), with the reason, newest
        first. They are not e-invoices: their JSON and printable page stay the documents; the
        e-invoicing job no longer tries them."""
        return shaped(einvoice_exclusions(caller, limit, cursor), EInvoiceExclusionPage)

    @put(
        "/agency/payment-method",
        sync_to_thread=True,
        summary="Save the card that pays invoices",
        **operation(
            "savePaymentMethod", *KEYED, AGENCY_KEY, UNREADABLE, payment_required("card_declined")
        ),
    )
    def payment_method(self, caller: Caller, data: JSONBody[PaymentMethodIn]) -> PaymentMethodOut:
        """Owner. A PaymentMethod made client-side with Stripe.js; unpaid invoices are charged
        on it at once, which lifts a suspension for non-payment."""
        return shaped(save_payment_method(caller, data.payment_method_id), PaymentMethodOut)
