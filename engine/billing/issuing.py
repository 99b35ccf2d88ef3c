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


@dataclass(frozen=True)
class _Batch:
    """What every document of one batch shares."""

    period: date
    now: datetime
    year: int
    due: date
    seller: dict[str, Any]
    run_id: uuid.UUID | None


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
    lines = _unbilled_lines(session, ids, until)
    if not lines:
        return Issued(0, 0)
    rows = session.execute(_BUYERS, {"agencies": ids}).mappings()
    buyers = {row["id"]: identity_of(row) for row in rows}
    batch = _Batch(
        period=period,
        now=now,
        year=now.astimezone(PARIS).year,
        due=now.astimezone(PARIS).date() + timedelta(days=int(settings["invoice_due_days"])),
        seller=seller_identity(settings),
        run_id=run_id,
    )
    invoiced = [
        (agency, on_invoice)
        for agency in ids
        if (on_invoice := [x for x in lines.get(agency, ()) if x["purchase_invoice_id"] is None])
    ]
    numbers = next_numbers(session, "invoice", batch.year, len(invoiced)) if invoiced else []
    invoices, document_lines = [], []
    for (agency, on_invoice), number in zip(invoiced, numbers, strict=True):
        invoice = _invoice(batch, agency, number, buyers[agency], on_invoice, settings)
        invoices.append(invoice)
        document_lines += [
            document_line_values(line, invoice_id=invoice["id"]) for line in on_invoice
        ]
    if invoices:
        _insert_invoices(session, batch, invoices, document_lines)
    notes = _issue_credit_notes(session, batch, ids, lines, buyers)
    session.flush()
    return Issued(len(invoices), notes)


def _unbilled_lines(
    session: Session, ids: list[uuid.UUID], until: datetime
) -> dict[uuid.UUID, list[Any]]:
    """The agencies' ledger lines not yet on a document, by agency."""
    lines: dict[uuid.UUID, list[Any]] = {}
    for line in session.execute(_LINES, {"agencies": ids, "until": until}).mappings():
        lines.setdefault(line["agency_id"], []).append(line)
    return lines


def _invoice(
    batch: _Batch,
    agency: uuid.UUID,
    number: str,
    buyer: tuple[dict[str, Any], str | None],
    on_invoice: list[Any],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """One agency's invoice of the batch: its buyer, VAT rate and totals."""
    identity, departement = buyer
    rate = vat_rate_bp(settings, departement)
    ht = sum(int(line["amount_cents"]) for line in on_invoice)
    vat = vat_of(ht, rate)
    return {
        "id": uuid.uuid4(),
        "agency_id": agency,
        "period": batch.period,
        "number": number,
        "issued_at": batch.now,
        "due_at": batch.due,
        "seller": batch.seller,
        "buyer": identity,
        "vat_rate_bp": rate,
        "total_ht_cents": ht,
        "vat_cents": vat,
        "total_ttc_cents": ht + vat,
        "run_id": batch.run_id,
    }


def _insert_invoices(
    session: Session,
    batch: _Batch,
    invoices: list[dict[str, Any]],
    document_lines: list[dict[str, Any]],
) -> None:
    """Every invoice of the batch in one statement, then every document line in one."""
    session.execute(
        _INVOICES,
        {
            "period": batch.period,
            "issued_at": batch.now,
            "due_at": batch.due,
            "seller": json.dumps(batch.seller),
            "run_id": batch.run_id,
            "ids": _column(invoices, "id"),
            "agencies": _column(invoices, "agency_id"),
            "numbers": _column(invoices, "number"),
            "buyers": [json.dumps(buyer) for buyer in _column(invoices, "buyer")],
            "rates": _column(invoices, "vat_rate_bp"),
            "hts": _column(invoices, "total_ht_cents"),
            "vats": _column(invoices, "vat_cents"),
        },
    )
    session.execute(
        _DOCUMENT_LINES,
        {
            "invoices": _column(document_lines, "invoice_id"),
            "ledger_lines": _column(document_lines, "ledger_line_id"),
            "purchases": _column(document_lines, "purchase_id"),
            "descriptions": _column(document_lines, "description"),
            "amounts": _column(document_lines, "amount_ht_cents"),
        },
    )


def _column(rows: list[dict[str, Any]], key: str) -> list[Any]:
    return [row[key] for row in rows]


def _issue_credit_notes(
    session: Session,
    batch: _Batch,
    ids: list[uuid.UUID],
    lines: dict[uuid.UUID, list[Any]],
    buyers: dict[uuid.UUID, tuple[dict[str, Any], str | None]],
) -> int:
    """A credit note for each invoice some of an agency's refunds correct, one by one as
    `bill_agency` writes them; how many."""
    notes = 0
    for agency in ids:
        by_invoice: dict[uuid.UUID, list[Any]] = {}
        for line in lines.get(agency, ()):
            if line["purchase_invoice_id"] is not None:
                by_invoice.setdefault(line["purchase_invoice_id"], []).append(line)
        for invoice_id, refunds in by_invoice.items():
            credit_note(
                session,
                agency,
                invoice_id,
                refunds,
                batch.now,
                batch.seller,
                buyers[agency][0],
                batch.year,
            )
            notes += 1
    return notes
