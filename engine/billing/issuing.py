"""The billing run's documents for many agencies at once: one transaction per statement of
agencies, a few statements for all of them (docs/rules.md §7, issue 16).

For a batch of claimed agencies: their unbilled ledger lines and their identities in one query
each, the invoice numbers in one update of the series row (consecutive, in the agencies' order,
under the row's lock until the commit: a batch rolled back gives them all back, so the series
keeps no gap), then every invoice and every document line in one insert each (from arrays, in
the agencies' order: one statement, so the lines' statement check runs once). The
records are the ones `bill_agency` writes for one agency (the same functions compute the
identities, VAT, due date and line descriptions); credit notes, rare, are written one by one
as `bill_agency` does. The Factur-X is made afterwards from the stored records (einvoice.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
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

_LINES = text(UNBILLED_LINES.format(agencies="l.agency_id = ANY(CAST(:agencies AS uuid[]))"))
_BUYERS = text(BUYER_ROWS.format(agencies="a.id = ANY(CAST(:agencies AS uuid[]))"))
_INVOICES = text("""
    INSERT INTO invoice (id, agency_id, period, number, issued_at, due_at, seller, buyer,
                         vat_rate_bp, total_ht_cents, vat_cents, total_ttc_cents, run_id)
    SELECT i.id, i.agency_id, :period, i.number, :issued_at, :due_at, CAST(:seller AS jsonb),
           i.buyer, i.rate, i.ht, i.vat, i.ht + i.vat, :run_id
    FROM unnest(CAST(:ids AS uuid[]), CAST(:agencies AS uuid[]), CAST(:numbers AS text[]),
                CAST(:buyers AS jsonb[]), CAST(:rates AS integer[]), CAST(:hts AS bigint[]),
                CAST(:vats AS bigint[])) WITH ORDINALITY
         AS i(id, agency_id, number, buyer, rate, ht, vat, n)
    ORDER BY i.n
""")
_DOCUMENT_LINES = text("""
    INSERT INTO document_line (invoice_id, ledger_line_id, purchase_id, description,
                               amount_ht_cents)
    SELECT d.invoice_id, d.ledger_line_id, d.purchase_id, d.description, d.amount
    FROM unnest(CAST(:invoices AS uuid[]), CAST(:ledger_lines AS bigint[]),
                CAST(:purchases AS uuid[]), CAST(:descriptions AS text[]),
                CAST(:amounts AS bigint[])) WITH ORDINALITY
         AS d(invoice_id, ledger_line_id, purchase_id, description, amount, n)
    ORDER BY d.n
""")


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
        session.execute(
            _INVOICES,
            {
                "period": period,
                "issued_at": now,
                "due_at": due,
                "seller": json.dumps(seller),
                "run_id": run_id,
                "ids": [x["id"] for x in invoices],
                "agencies": [x["agency_id"] for x in invoices],
                "numbers": [x["number"] for x in invoices],
                "buyers": [json.dumps(x["buyer"]) for x in invoices],
                "rates": [x["vat_rate_bp"] for x in invoices],
                "hts": [x["total_ht_cents"] for x in invoices],
                "vats": [x["vat_cents"] for x in invoices],
            },
        )
        session.execute(
            _DOCUMENT_LINES,
            {
                "invoices": [x["invoice_id"] for x in document_lines],
                "ledger_lines": [x["ledger_line_id"] for x in document_lines],
                "purchases": [x["purchase_id"] for x in document_lines],
                "descriptions": [x["description"] for x in document_lines],
                "amounts": [x["amount_ht_cents"] for x in document_lines],
            },
        )
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
