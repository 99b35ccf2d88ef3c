"""E-reporting (CGI art. 290 and 290 A), listed per month for the approved platform and finance.

Transaction data: the sales that are not e-invoiced. Mandat's are its documents to agencies in
Guyane and Mayotte, outside French VAT (CGI art. 294, category O): they are reported as
international B2B transactions, not sent as e-invoices.
Payment data: Mandat sells services, whose VAT is due on receipt unless it opts for the debits
(CGI art. 269, 2-c): each payment of a document with VAT is reported, its date and its amount
per VAT rate. For an e-invoice this is its "paid" (encaissée) status, handed to the platform by
`engine.billing.transmit`; the list holds them all, with whether the document is an e-invoice.
Read from the stored documents and payments, never from the ledger."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.billing.documents import PARIS, period_bounds
from engine.billing.read_models import PaymentReport, ReportedPayment, ReportedSale
from engine.settings import read_settings

# Documents issued in the month whose Factur-X says "outside the scope of VAT".
_SALES = text("""
    SELECT e.number, CASE WHEN e.invoice_id IS NULL THEN '381' ELSE '380' END AS type_code,
           d.issued_at, d.agency_id, d.buyer->>'name' AS buyer_name,
           d.buyer->>'siren' AS buyer_siren, d.buyer->>'departement_code' AS departement,
           d.total_ht_cents, d.vat_cents, d.total_ttc_cents, e.vat_category
    FROM einvoice e
    JOIN (SELECT id, issued_at, agency_id, buyer, total_ht_cents, vat_cents, total_ttc_cents
          FROM invoice
          UNION ALL
          SELECT id, issued_at, agency_id, buyer, total_ht_cents, vat_cents, total_ttc_cents
          FROM credit_note) d ON d.id = coalesce(e.invoice_id, e.credit_note_id)
    WHERE e.vat_category = 'O' AND d.issued_at >= :start AND d.issued_at < :end
    ORDER BY d.issued_at, e.number
""")
COLUMNS = (
    "number",
    "type_code",
    "issued_on",
    "agency_id",
    "buyer_name",
    "buyer_siren",
    "departement",
    "vat_category",
    "total_ht_cents",
    "vat_cents",
    "total_ttc_cents",
)


def ereporting_sales(session: Session, period: date) -> list[ReportedSale]:
    """The month's documents (by issue date, Paris time) to e-report rather than e-invoice."""
    start, end = period_bounds(period)
    rows = session.execute(_SALES, {"start": start, "end": end}).mappings()
    return [
        ReportedSale(
            **{k: row[k] for k in COLUMNS if k in row},
            issued_on=row["issued_at"].astimezone(PARIS).date(),
        )
        for row in rows
    ]


# The month's payments whose VAT is due on receipt: documents with VAT (category O has none)
# issued without the VAT on debits option. A credit note paid back is negative.
_PAYMENTS = text("""
    SELECT p.paid_at, d.number, d.type_code, d.agency_id, d.buyer->>'siren' AS buyer_siren,
           p.vat_rate_bp, p.base_cents, p.vat_cents, p.amount_cents,
           EXISTS (SELECT 1 FROM einvoice e WHERE e.invoice_id = p.invoice_id
                   OR e.credit_note_id = p.credit_note_id) AS einvoiced
    FROM document_payment p
    JOIN (SELECT id, number, '380' AS type_code, agency_id, seller, buyer FROM invoice
          UNION ALL
          SELECT id, number, '381', agency_id, seller, buyer FROM credit_note
         ) d ON d.id = coalesce(p.invoice_id, p.credit_note_id)
    WHERE p.paid_at >= :start AND p.paid_at < :end AND p.vat_rate_bp > 0
      AND NOT coalesce((d.seller->>'vat_on_debits')::boolean, false)
    ORDER BY p.paid_at, d.number
""")
PAYMENT_COLUMNS = (
    "paid_on",
    "number",
    "type_code",
    "agency_id",
    "buyer_siren",
    "vat_rate_bp",
    "base_cents",
    "vat_cents",
    "amount_cents",
    "einvoiced",
)
ON_DEBITS = (
    "VAT on debits is on: the VAT of documents issued under the option is due when they are "
    "issued, their payments are not reported. Listed: payments of documents issued before it."
)


def ereporting_payments(session: Session, period: date) -> PaymentReport:
    """The month's payment data (by payment date, Paris time), as recorded when each payment
    happened; `note` says why the list may be empty."""
    start, end = period_bounds(period)
    rows = session.execute(_PAYMENTS, {"start": start, "end": end}).mappings()
    items = [
        ReportedPayment(
            **{k: row[k] for k in PAYMENT_COLUMNS if k in row},
            paid_on=row["paid_at"].astimezone(PARIS).date(),
        )
        for row in rows
    ]
    on_debits = bool(read_settings(session)["vat_on_debits"])
    return PaymentReport(
        period=f"{period:%Y-%m}",
        vat_on_debits=on_debits,
        note=ON_DEBITS if on_debits else None,
        items=items,
    )
