"""The billing run's documents for many agencies at once: one transaction per statement of
agencies, a few statements for all of them (PRODUCT §7, issue 16).

For a batch of claimed agencies: their unbilled ledger lines and their identities in one query
each, the invoice numbers in one update of the series row (consecutive, in the agencies' order,
under the row's lock until the commit: a batch rolled back gives them all back, so the series
keeps no gap), then every invoice and every document line in one multi-row insert each. The
records are the ones `bill_agency` writes for one agency (the same functions compute the
identities, VAT, due date and line descriptions); credit notes, rare, are written one by one
as `bill_agency` does. The Factur-X is made afterwards from the stored records (einvoice.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from engine.billing.documents import (
    BUYER_ROWS,
    PARIS,
    UNBILLED_LINES,
    credit_note,
    document_line_values,
    identity_of,
    next_numbers,
    period_bounds,
    seller_identity,
    vat_of,
    vat_rate_bp,
)
from engine.billing.models import DocumentLine, Invoice

_LINES = text(UNBILLED_LINES.format(agencies="l.agency_id = ANY(CAST(:agencies AS uuid[]))"))
_BUYERS = text(BUYER_ROWS.format(agencies="a.id = ANY(CAST(:agencies AS uuid[]))"))


@dataclass(frozen=True)
class Issued:
    invoices: int
    credit_notes: int


def issue_documents(
    session: Session,
    agencies: Sequence[uuid.UUID],
    period: date,
    now: datetime,
    run_id: uuid.UUID | None,
    settings: dict[str, Any],
) -> Issued:
    """The documents of `agencies` (claimed by the caller, in this order) for `period`: what
    `bill_agency` writes for each, written together. The numbers follow the agencies' order."""
    _, until = period_bounds(period)
    ids = list(agencies)
    lines: dict[uuid.UUID, list[Any]] = {}
    for line in session.execute(_LINES, {"agencies": ids, "until": until}).mappings():
        lines.setdefault(line["agency_id"], []).append(line)
    if not lines:
        return Issued(0, 0)
    rows = session.execute(_BUYERS, {"agencies": ids}).mappings()
    buyers = {row["id"]: identity_of(row) for row in rows}
    seller = seller_identity(settings)
    year = now.astimezone(PARIS).year
    due = now.astimezone(PARIS).date() + timedelta(days=int(settings["invoice_due_days"]))
    invoiced = [
        (agency, on_invoice)
        for agency in ids
        if (on_invoice := [x for x in lines.get(agency, ()) if x["purchase_invoice_id"] is None])
    ]
    numbers = next_numbers(session, "invoice", year, len(invoiced)) if invoiced else []
    invoices, document_lines = [], []
    for (agency, on_invoice), number in zip(invoiced, numbers, strict=True):
        buyer, departement = buyers[agency]
        rate = vat_rate_bp(settings, departement)
        ht = sum(int(line["amount_cents"]) for line in on_invoice)
        vat = vat_of(ht, rate)
        invoice_id = uuid.uuid4()
        invoices.append(
            {
                "id": invoice_id,
                "agency_id": agency,
                "period": period,
                "number": number,
                "issued_at": now,
                "due_at": due,
                "seller": seller,
                "buyer": buyer,
                "vat_rate_bp": rate,
                "total_ht_cents": ht,
                "vat_cents": vat,
                "total_ttc_cents": ht + vat,
                "run_id": run_id,
            }
        )
        document_lines += [document_line_values(line, invoice_id=invoice_id) for line in on_invoice]
    if invoices:
        session.execute(insert(Invoice), invoices)
        session.execute(insert(DocumentLine), document_lines)
    notes = 0
    for agency in ids:
        by_invoice: dict[uuid.UUID, list[Any]] = {}
        for line in lines.get(agency, ()):
            if line["purchase_invoice_id"] is not None:
                by_invoice.setdefault(line["purchase_invoice_id"], []).append(line)
        for invoice_id, refunds in by_invoice.items():
            credit_note(session, agency, invoice_id, refunds, now, seller, buyers[agency][0], year)
            notes += 1
    session.flush()
    return Issued(len(invoices), notes)
