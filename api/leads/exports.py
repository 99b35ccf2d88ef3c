"""Purchased leads as CSV, for an agency's CRM (UTF-8, commas, the API's names and values) or
as French Excel opens it (`api/leads/excel.py`). Free text is defused so that no spreadsheet runs
it as a formula (CSV injection)."""

from __future__ import annotations

import csv
import io

from api.leads import excel as excel_layout
from engine.money import decimal_euros
from engine.sales.read_models import PurchasedLead

CSV_COLUMNS = [
    "purchase_id",
    "purchased_at",
    "mode",
    "price_eur",
    "pipeline_status",
    "first_name",
    "last_name",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "property_type",
    "surface_m2",
    "rooms",
    "estimate_mid_eur",
    "timeline",
    "is_owner",
    "grade",
    "notes",
    "do_not_contact",
]


def purchases_csv(purchases: list[PurchasedLead], excel: bool = False) -> str:
    """The rows, header first; `excel`: with a byte-order mark, semicolons and French cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if excel else ",")
    writer.writerow(excel_layout.HEADERS if excel else CSV_COLUMNS)
    for purchase in purchases:
        price = decimal_euros(purchase.price_cents)
        writer.writerow(
            excel_layout.row_cells(purchase, price, _safe) if excel else _row(purchase, price)
        )
    return (excel_layout.BOM if excel else "") + buffer.getvalue()


def _row(purchase: PurchasedLead, price_eur: str) -> list[object]:
    contact, address, facts = purchase.contact, purchase.address, purchase.property
    return [
        purchase.id,
        purchase.purchased_at.isoformat(),
        purchase.mode,
        price_eur,
        purchase.pipeline_status,
        *(_safe(v) for v in (contact.first_name, contact.last_name, contact.email)),
        contact.phone,  # E.164, digits only: no formula to defuse
        _safe(address.street or ""),
        address.postal_code,
        address.city,
        facts.get("type"),
        facts.get("surface_m2"),
        facts.get("rooms"),
        purchase.estimate.get("mid_eur") or "",
        purchase.project.timeline,
        "yes" if purchase.project.is_owner else "no",
        purchase.grade,
        _safe(purchase.notes),
        purchase.do_not_contact or "",
    ]


def _safe(value: str | None) -> str:
    """A cell a spreadsheet will not run as a formula."""
    text_value = value or ""
    return "'" + text_value if text_value[:1] in ("=", "+", "-", "@", "\t", "\r") else text_value
