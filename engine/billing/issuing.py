"""The billing run's documents for many agencies at once: one transaction per statement of
agencies, a few statements for all of them (docs/rules.md §7, issue 16).

For a batch of claimed agencies: each one's invoice total (the sum of its unbilled lines) and
their identities in one query each; every document line in one insert that reads the lines
where they are, in the database (no line travels to Python and back; one statement, so the
lines' statement check runs once), for invoices whose ids are chosen first; then the invoice
numbers in one update of the series row (consecutive, in the agencies' order, under the row's
lock until the commit: a batch rolled back gives them all back, so the series keeps no gap) and
every invoice in one insert (from one JSON document, in the agencies' order). The records are
the ones `bill_agency` writes for one agency (the same functions compute the identities, VAT
and due date, the same SQL the line descriptions); credit notes, rare, are written one by one
as `bill_agency` does. The Factur-X is made afterwards from the stored records (einvoice.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.billing.documents import (
    BUYER_ROWS,
    LINE_DESCRIPTION,
    PARIS,
    UNBILLED,
    UNBILLED_FROM,
    UNBILLED_LINES,
    credit_note,
    identity_of,
    next_numbers,
    period_bounds,
    seller_identity,
    vat_of,
    vat_rate_bp,
)

_OF_THE_BATCH = "l.agency_id = ANY(CAST(:agencies AS uuid[]))"
# What each agency's invoice totals: its unbilled lines whose purchase is on no invoice yet.
# (Without the description's joins: half the time.)
_TOTALS = text(
    "SELECT l.agency_id, sum(l.amount_cents) AS ht FROM ledger_line l"
    + UNBILLED.format(agencies=_OF_THE_BATCH)
    + "AND d.invoice_id IS NULL GROUP BY l.agency_id"
)
# The rest, rare: refunds of purchases already invoiced, each invoice corrected by a credit note.
_CREDITED = text(UNBILLED_LINES.format(agencies=_OF_THE_BATCH + " AND d.invoice_id IS NOT NULL"))
_BUYERS = text(BUYER_ROWS.format(agencies="a.id = ANY(CAST(:agencies AS uuid[]))"))
_INVOICES = text("""
    INSERT INTO invoice (id, agency_id, period, number, issued_at, due_at, seller, buyer,
                         vat_rate_bp, total_ht_cents, vat_cents, total_ttc_cents, run_id)
    SELECT i.id, i.agency_id, :period, i.number, :issued_at, :due_at, CAST(:seller AS jsonb),
           i.buyer, i.rate, i.ht, i.vat, i.ht + i.vat, :run_id
    FROM ROWS FROM (jsonb_to_recordset(CAST(:invoices AS jsonb))
                    AS (id uuid, agency_id uuid, number text, buyer jsonb, rate integer,
                        ht bigint, vat bigint)) WITH ORDINALITY
         AS i(id, agency_id, number, buyer, rate, ht, vat, n)
    ORDER BY i.n
""")
# Each invoice's lines, written from the ledger where they are: the lines `_TOTALS` summed, in
# the agencies' order then the ledger's. The database checks each invoice's total against its
# lines at commit (migration 0038), so a line that came between the two statements fails the batch.
_DOCUMENT_LINES = text(
    f"""
    INSERT INTO document_line (invoice_id, ledger_line_id, purchase_id, description,
                               amount_ht_cents)
    SELECT i.id, l.id, l.purchase_id, l.description, l.amount_cents
    FROM unnest(CAST(:invoices AS uuid[]), CAST(:agencies AS uuid[])) WITH ORDINALITY
         AS i(id, agency_id, n)
    JOIN LATERAL (
        SELECT l.id, l.purchase_id, l.amount_cents, l.created_at,
               {LINE_DESCRIPTION} AS description"""
    + UNBILLED_FROM.format(agencies="l.agency_id = i.agency_id")
    + """AND d.invoice_id IS NULL) l ON true
    ORDER BY i.n, l.created_at, l.id
"""
)


@dataclass(frozen=True)
class Issued:
    invoice_ids: tuple[uuid.UUID, ...]  # in their numbers' order
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
    numbering: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> Issued:
    """The documents of `agencies` (claimed by the caller, in this order) for `period`: what
    `bill_agency` writes for each, written together. The numbers follow the agencies' order.

    The lines are written first, for invoices whose ids are chosen beforehand (their key is
    checked at commit), then the numbers are taken inside `numbering()` — the run's turn, so
    that batches written at once still number in their claim order — and the invoices written:
    the series' lock is held for the invoices' insert and the commit only."""
    _, until = period_bounds(period)
    ids = list(agencies)
    totals = {
        row.agency_id: int(row.ht)
        for row in session.execute(_TOTALS, {"agencies": ids, "until": until})
    }
    credited: dict[uuid.UUID, list[Any]] = {}
    for line in session.execute(_CREDITED, {"agencies": ids, "until": until}).mappings():
        credited.setdefault(line["agency_id"], []).append(line)
    if not totals and not credited:
        return Issued((), 0)
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
    invoiced = {agency: uuid.uuid4() for agency in ids if agency in totals}
    if invoiced:
        session.execute(
            _DOCUMENT_LINES,
            {"invoices": list(invoiced.values()), "agencies": list(invoiced), "until": until},
        )
    with numbering():
        numbers = next_numbers(session, "invoice", batch.year, len(invoiced)) if invoiced else []
    invoices = [
        _invoice(invoice_id, agency, number, buyers[agency], totals[agency], settings)
        for (agency, invoice_id), number in zip(invoiced.items(), numbers, strict=True)
    ]
    if invoices:
        _insert_invoices(session, batch, invoices)
    notes = _issue_credit_notes(session, batch, ids, credited, buyers)
    session.flush()
    return Issued(tuple(invoiced.values()), notes)


def _invoice(
    invoice_id: uuid.UUID,
    agency: uuid.UUID,
    number: str,
    buyer: tuple[dict[str, Any], str | None],
    ht: int,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """One agency's invoice of the batch as `_INVOICES` reads it: its buyer, VAT rate and
    totals (what every invoice of the batch shares goes with the statement)."""
    identity, departement = buyer
    rate = vat_rate_bp(settings, departement)
    return {
        "id": str(invoice_id),
        "agency_id": str(agency),
        "number": number,
        "buyer": identity,
        "rate": rate,
        "ht": ht,
        "vat": vat_of(ht, rate),
    }


def _insert_invoices(session: Session, batch: _Batch, invoices: list[dict[str, Any]]) -> None:
    """Every invoice of the batch in one statement."""
    session.execute(
        _INVOICES,
        {
            "period": batch.period,
            "issued_at": batch.now,
            "due_at": batch.due,
            "seller": json.dumps(batch.seller),
            "run_id": batch.run_id,
            # One JSON document: a quarter of what seven arrays cost the client to send.
            "invoices": json.dumps(invoices),
        },
    )


def _issue_credit_notes(
    session: Session,
    batch: _Batch,
    ids: list[uuid.UUID],
    credited: dict[uuid.UUID, list[Any]],
    buyers: dict[uuid.UUID, tuple[dict[str, Any], str | None]],
) -> int:
    """A credit note for each invoice some of an agency's refunds correct, one by one as
    `bill_agency` writes them, in the agencies' order; how many."""
    notes = 0
    for agency in ids:
        by_invoice: dict[uuid.UUID, list[Any]] = {}
        for line in credited.get(agency, ()):
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
