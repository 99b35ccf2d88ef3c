"""Billing's answers that are files: a document's lines and the e-reporting lists as CSV, a
document's stored Factur-X PDF."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from litestar import Response

from engine.billing.ereporting import COLUMNS as SALE_COLUMNS
from engine.billing.ereporting import PAYMENT_COLUMNS
from engine.billing.read_models import DocumentRecord, ReportedPayment, ReportedSale, StoredPdf


def lines_csv(doc: DocumentRecord) -> Response[str]:
    """A document's lines, amounts in euros."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["document", "number", "description", "amount_ht_eur", "purchase_id"])
    for line in doc.lines:
        amount = f"{line.amount_ht_cents / 100:.2f}"
        writer.writerow([doc.type, doc.number, line.description, amount, line.purchase_id])
    return Response(buffer.getvalue(), media_type="text/csv")


def sales_csv(items: list[ReportedSale]) -> Response[str]:
    return _reported(items, SALE_COLUMNS)


def payments_csv(items: list[ReportedPayment]) -> Response[str]:
    return _reported(items, PAYMENT_COLUMNS)


def _reported(
    items: Iterable[ReportedSale | ReportedPayment], columns: tuple[str, ...]
) -> Response[str]:
    """An e-reporting list, one row per item, its `columns` in order (the platform's)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([getattr(item, column) for column in columns] for item in items)
    return Response(buffer.getvalue(), media_type="text/csv")


def pdf(stored: StoredPdf) -> Response[bytes]:
    """The stored bytes, the same every time: their SHA-256 is the `ETag`."""
    return Response(
        stored.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{stored.number}.pdf"',
            "ETag": f'"{stored.sha256}"',
        },
    )
