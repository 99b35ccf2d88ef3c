"""Invoices and credit notes as their readers see them: JSON, a printable page, CSV lines.
Every read is scoped: an agency reads its own documents only (another id is a 404)."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.billing import facturx
from engine.billing.documents import PARIS, vat_breakdown, vat_category
from engine.errors import NotFound
from engine.money import format_euros
from engine.pagination import read_cursor, write_cursor

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
TABLES = {"invoice": "invoice", "credit_note": "credit_note"}


def document(
    session: Session, kind: str, doc_id: uuid.UUID, agency_id: uuid.UUID | None
) -> dict[str, Any]:
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
    return _json(kind, row, lines)


def _json(kind: str, row: Any, lines: Any) -> dict[str, Any]:
    data = {
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
            {
                "description": line["description"],
                "amount_ht_cents": line["amount_ht_cents"],
                "purchase_id": line["purchase_id"],
            }
            for line in lines
        ],
    }
    if kind == "invoice":
        data.update(
            period=f"{row['period']:%Y-%m}",
            due_at=row["due_at"],
            status=row["status"],
            paid_at=row["paid_at"],
        )
    else:
        data.update(
            invoice_id=row["invoice_id"],
            invoice_number=row["invoice_number"],
            invoice_issued_at=row["invoice_issued_at"],
            refund_status=row["refund_status"],
        )
    data["vat_breakdown"] = [
        {
            "category": group.category,
            "rate_bp": group.rate_bp,
            "base_cents": group.base_cents,
            "vat_cents": group.vat_cents,
        }
        for group in vat_breakdown(
            [(line["amount_ht_cents"], row["vat_rate_bp"]) for line in lines]
        )
    ]
    return data


def html(doc: dict[str, Any], printed: bool = False) -> str:
    """The printable page of a document (French: the legal documents are French). `printed`:
    the page of the PDF, stored once, which leaves out the payment status (it changes)."""
    kind = doc["type"]
    status_text = {
        "paid": "Payée.",
        "open": "À régler par prélèvement sur le moyen de paiement enregistré.",
        "payment_failed": "Le paiement a échoué : mettez à jour votre moyen de paiement.",
    }.get(doc.get("status", ""), "")
    view = {
        **doc,
        "issued_on": doc["issued_at"].astimezone(PARIS).strftime("%d/%m/%Y"),
        "due_on": doc["due_at"].strftime("%d/%m/%Y") if doc.get("due_at") else None,
        "invoice_issued_on": doc["invoice_issued_at"].astimezone(PARIS).strftime("%d/%m/%Y")
        if doc.get("invoice_issued_at")
        else None,
        "lines": [
            {**line, "amount": format_euros(line["amount_ht_cents"])} for line in doc["lines"]
        ],
        "total_ht": format_euros(doc["total_ht_cents"]),
        "vat": format_euros(doc["vat_cents"]),
        "total_ttc": format_euros(doc["total_ttc_cents"]),
        "vat_rate": f"{doc['vat_rate_bp'] / 100:g} %".replace(".", ","),
        "status_text": "" if printed else status_text,
    }
    mentions = {
        "notes": list(facturx.NOTES.values()),
        "category": facturx.CATEGORY_OF_OPERATION,
        "vat_on_debits": facturx.VAT_ON_DEBITS
        if doc["seller"].get("vat_on_debits") and doc["vat_category"] != "O"
        else None,
        "outside_vat": facturx.OUTSIDE_VAT if doc["vat_category"] == "O" else None,
    }
    title = "Facture" if kind == "invoice" else "Avoir"
    return _TEMPLATES.get_template("document.html").render(
        title=title, doc=view, mentions=mentions, printed=printed
    )


def lines_csv(doc: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["document", "number", "description", "amount_ht_eur", "purchase_id"])
    for line in doc["lines"]:
        writer.writerow(
            [
                doc["type"],
                doc["number"],
                line["description"],
                f"{line['amount_ht_cents'] / 100:.2f}",
                line["purchase_id"],
            ]
        )
    return buffer.getvalue()


def list_documents(
    session: Session,
    kind: str,
    agency_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
    period: Any = None,
) -> tuple[list[dict[str, Any]], str | None]:
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
        from datetime import datetime

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
        last_doc = items[-1]
        next_cursor = write_cursor(last_doc["issued_at"], last_doc["id"])
    return items, next_cursor
