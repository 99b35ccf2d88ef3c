"""An agency's purchased leads: its contacts, with a pipeline status and notes, and a CSV export.

Every query is scoped to the caller's agency: another agency's purchase id answers 404.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.errors import FieldError, NotFound, RuleViolation
from engine.money import decimal_euros
from engine.pagination import read_cursor, write_cursor
from engine.sales import excel as excel_layout
from engine.sales.models import PIPELINE
from engine.sales.read_models import Page, Project, PurchasedLead, address_of, contact_of

NOTES_MAX = 10_000

# A homeowner who withdrew this agency's consent or erased their data, a person who said the
# request was not theirs, and a purchase refunded in full (the agency got its money back: it does
# not keep the contact for free) are not to be contacted: the row says why and no longer holds
# the e-mail and phone.
_PURCHASES = """
    SELECT p.id, p.lead_id, p.mode, p.price_cents, p.created_at, p.pipeline_status, p.notes,
           dnc.reason AS do_not_contact,
           l.first_name, l.last_name,
           CASE WHEN dnc.reason IS NULL THEN l.email END AS email,
           CASE WHEN dnc.reason IS NULL THEN l.phone_e164 END AS phone_e164,
           l.timeline, l.is_owner, l.grade,
           e.street, e.postal_code, c.code AS commune_code, c.name AS commune_name,
           ST_Y(e.location::geometry) AS lat, ST_X(e.location::geometry) AS lon,
           e.location_precision, e.property, e.estimate
    FROM purchase p
    JOIN lead l ON l.id = p.lead_id
    JOIN estimation e ON e.id = l.estimation_id
    JOIN commune c ON c.code = e.commune_code
    LEFT JOIN lead_consent lc ON lc.lead_id = p.lead_id AND lc.agency_id = p.agency_id
    CROSS JOIN LATERAL (
        SELECT CASE WHEN l.erased_at IS NOT NULL THEN 'erased'
                    WHEN lc.withdrawn_at IS NOT NULL THEN 'consent_withdrawn'
                    WHEN l.disowned_at IS NOT NULL THEN 'disowned'
                    -- a purchase has at most one request of each kind (a partial unique index each)
                    WHEN coalesce((SELECT r.approved_amount_cents FROM refund_request r
                                   WHERE r.purchase_id = p.id AND r.reason <> 'not_me'
                                     AND r.status = 'approved'), 0)
                       + coalesce((SELECT r.approved_amount_cents FROM refund_request r
                                   WHERE r.purchase_id = p.id AND r.reason = 'not_me'
                                     AND r.status = 'approved'), 0) >= p.price_cents
                    THEN 'refunded' END AS reason
    ) dnc
    WHERE p.agency_id = :agency
"""


def list_purchases(
    session: Session, agency_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[PurchasedLead]:
    """Newest first; the cursor is the last row's time and id."""
    params: dict[str, Any] = {"agency": agency_id, "limit": limit + 1}
    after = ""
    if cursor:
        at, last = read_cursor(cursor, datetime)
        params.update(at=at, last=last)
        after = "AND (p.created_at, p.id) < (:at, :last)"
    rows = (
        session.execute(
            text(f"{_PURCHASES} {after} ORDER BY p.created_at DESC, p.id DESC LIMIT :limit"),
            params,
        )
        .mappings()
        .all()
    )
    items = [_item(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last_row = rows[limit - 1]
        next_cursor = write_cursor(last_row["created_at"], last_row["id"])
    return Page(items, next_cursor)


def get_purchase(session: Session, agency_id: uuid.UUID, purchase_id: uuid.UUID) -> PurchasedLead:
    row = (
        session.execute(
            text(f"{_PURCHASES} AND p.id = :id"), {"agency": agency_id, "id": purchase_id}
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound("No purchase of your agency has this id.", code="purchase_not_found")
    return _item(row)


def update_purchase(
    session: Session,
    caller: Principal,
    purchase_id: uuid.UUID,
    pipeline_status: str | None,
    notes: str | None,
) -> PurchasedLead:
    agency_id = caller.agency()
    caller.require("owner", "buyer")
    errors = []
    if pipeline_status is not None and pipeline_status not in PIPELINE:
        errors.append(
            FieldError(
                "pipeline_status",
                "unknown_pipeline_status",
                f"The status is one of {', '.join(PIPELINE)}.",
            )
        )
    if notes is not None and len(notes) > NOTES_MAX:
        errors.append(FieldError("notes", "too_long", f"At most {NOTES_MAX:,} characters."))
    if errors:
        raise RuleViolation(errors)
    updated = session.execute(
        text("""
            UPDATE purchase
            SET pipeline_status = coalesce(:status, pipeline_status),
                notes = coalesce(:notes, notes)
            WHERE id = :id AND agency_id = :agency
            RETURNING id
        """),
        {"status": pipeline_status, "notes": notes, "id": purchase_id, "agency": agency_id},
    ).first()
    if updated is None:
        raise NotFound("No purchase of your agency has this id.", code="purchase_not_found")
    return get_purchase(session, agency_id, purchase_id)


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


def purchases_csv(session: Session, caller: Principal, excel: bool = False) -> Iterator[str]:
    """Every purchase of the agency as CSV rows, header first: for its CRM (UTF-8, commas,
    the API's names and values), or, `excel`, as French Excel opens it (engine/sales/excel.py)."""
    agency_id = caller.agency()
    layout = {"layout": "excel"} if excel else {}
    record(session, caller, "purchases.exported", "agency", agency_id, **layout)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if excel else ",")
    writer.writerow(excel_layout.HEADERS if excel else CSV_COLUMNS)
    yield (excel_layout.BOM if excel else "") + _drain(buffer)
    rows = session.execute(
        text(f"{_PURCHASES} ORDER BY p.created_at, p.id"), {"agency": agency_id}
    ).mappings()
    for row in rows:
        if excel:
            writer.writerow(excel_layout.row_cells(row, decimal_euros(row["price_cents"]), _safe))
            yield _drain(buffer)
            continue
        writer.writerow(
            [
                row["id"],
                row["created_at"].isoformat(),
                row["mode"],
                decimal_euros(row["price_cents"]),
                row["pipeline_status"],
                *(_safe(row[k]) for k in ("first_name", "last_name", "email")),
                row["phone_e164"],  # E.164, digits only: no formula to defuse
                _safe(row["street"] or ""),
                row["postal_code"],
                row["commune_name"],
                row["property"].get("type"),
                row["property"].get("surface_m2"),
                row["property"].get("rooms"),
                row["estimate"].get("mid_eur") or "",
                row["timeline"],
                "yes" if row["is_owner"] else "no",
                row["grade"],
                _safe(row["notes"]),
                row["do_not_contact"] or "",
            ]
        )
        yield _drain(buffer)


def _safe(value: str | None) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    text_value = value or ""
    return "'" + text_value if text_value[:1] in ("=", "+", "-", "@", "\t", "\r") else text_value


def _drain(buffer: io.StringIO) -> str:
    value = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return value


def _item(row: Any) -> PurchasedLead:
    return PurchasedLead(
        id=row["id"],
        lead_id=row["lead_id"],
        mode=row["mode"],
        price_cents=row["price_cents"],
        purchased_at=row["created_at"],
        pipeline_status=row["pipeline_status"],
        notes=row["notes"],
        contact=contact_of(row),
        address=address_of(row),
        project=Project(row["timeline"], row["is_owner"]),
        property=row["property"],
        estimate=row["estimate"],
        grade=row["grade"],
        do_not_contact=row["do_not_contact"],
    )
