"""E-reporting (CGI art. 290): the sales that are not e-invoiced, listed per month for the
approved platform. Mandat's are its documents to agencies in Guyane and Mayotte, outside French
VAT (CGI art. 294, category O): they are reported as international B2B transactions, not sent
as e-invoices. Read from the stored documents, never from the ledger."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.billing.documents import PARIS, period_bounds

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


def ereporting_sales(session: Session, period: date) -> list[dict[str, Any]]:
    """The month's documents (by issue date, Paris time) to e-report rather than e-invoice."""
    start, end = period_bounds(period)
    rows = session.execute(_SALES, {"start": start, "end": end}).mappings()
    return [
        {
            **{k: row[k] for k in COLUMNS if k in row},
            "issued_on": row["issued_at"].astimezone(PARIS).date().isoformat(),
            "agency_id": str(row["agency_id"]),
        }
        for row in rows
    ]


def ereporting_csv(sales: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(sales)
    return buffer.getvalue()
