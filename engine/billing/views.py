"""Reading invoices and credit notes as stored, one or a page of them (`printable` prints them).
Every read is scoped: an agency reads its own documents only (another id is a 404)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.billing.documents import vat_breakdown, vat_category
from engine.billing.read_models import (
    CreditNoteRecord,
    DocumentLineRecord,
    DocumentRecord,
    InvoiceRecord,
)
from engine.errors import NotFound
from engine.pagination import read_cursor, write_cursor

TABLES = {"invoice": "invoice", "credit_note": "credit_note"}


def document(
    session: Session, kind: str, doc_id: uuid.UUID, agency_id: uuid.UUID | None
) -> DocumentRecord:
    """One document with its lines; `agency_id` None means staff (any agency)."""
    table = TABLES[kind]
    row = (
        session.execute(
            text(f"""
            SELECT d.*, {"i.number" if kind == "credit_note" else "NULL"} AS invoice_number,
                   {"i.issued_at" if kind == "credit_note" else "NULL"} AS invoice_issued_at
            FROM {table} d
            {"JOIN invoice i ON i.id = d.invoice_id" if kind == "credit_note" else ""}
            WHERE d.id = :id AND (CAST(:agency AS uuid) IS NULL OR d.agency_id = :agency)
        """),
            {"id": doc_id, "agency": agency_id},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(
            f"No {kind.replace('_', ' ')} of yours has this id.", code=f"{kind}_not_found"
        )
    lines = (
        session.execute(
            text(f"""
            SELECT description, amount_ht_cents, purchase_id FROM document_line
            WHERE {table}_id = :id ORDER BY id
        """),
            {"id": doc_id},
        )
        .mappings()
        .all()
    )
    return _record(kind, row, lines)


def _record(kind: str, row: Any, lines: Any) -> DocumentRecord:
    common = {
        "id": row["id"],
        "type": kind,
        "number": row["number"],
        "agency_id": row["agency_id"],
        "issued_at": row["issued_at"],
        "seller": row["seller"],
        "buyer": row["buyer"],
        "vat_rate_bp": row["vat_rate_bp"],
        "total_ht_cents": row["total_ht_cents"],
        "vat_cents": row["vat_cents"],
        "total_ttc_cents": row["total_ttc_cents"],
        "vat_category": vat_category(row["vat_rate_bp"]),
        "lines": [
            DocumentLineRecord(
                description=line["description"],
                amount_ht_cents=line["amount_ht_cents"],
                purchase_id=line["purchase_id"],
            )
            for line in lines
        ],
        "vat_breakdown": vat_breakdown(
            [(line["amount_ht_cents"], row["vat_rate_bp"]) for line in lines]
        ),
    }
    if kind == "invoice":
        return InvoiceRecord(
            **common,
            period=f"{row['period']:%Y-%m}",
            due_at=row["due_at"],
            status=row["status"],
            paid_at=row["paid_at"],
        )
    return CreditNoteRecord(
        **common,
        invoice_id=row["invoice_id"],
        invoice_number=row["invoice_number"],
        invoice_issued_at=row["invoice_issued_at"],
        refund_status=row["refund_status"],
    )


def list_documents(
    session: Session,
    kind: str,
    agency_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
    period: date | None = None,
) -> tuple[list[DocumentRecord], str | None]:
    """Newest first. For staff (`agency_id` None) every agency's; invoices of one `period` if
    given."""
    table = TABLES[kind]
    params: dict[str, Any] = {"agency": agency_id, "limit": limit + 1, "status": status}
    where = ["(CAST(:agency AS uuid) IS NULL OR agency_id = :agency)"]
    if status:
        where.append("status = :status" if kind == "invoice" else "refund_status = :status")
    if period is not None and kind == "invoice":
        where.append("period = :period")
        params["period"] = period
    if cursor:
        at, last = read_cursor(cursor, datetime)
        where.append("(issued_at, id) < (:at, :last)")
        params.update(at=at, last=last)
    rows = (
        session.execute(
            text(f"""
            SELECT id FROM {table} WHERE {" AND ".join(where)}
            ORDER BY issued_at DESC, id DESC LIMIT :limit
        """),
            params,
        )
        .scalars()
        .all()
    )
    items = [document(session, kind, doc_id, agency_id) for doc_id in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = write_cursor(items[-1].issued_at, items[-1].id)
    return items, next_cursor
