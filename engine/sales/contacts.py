"""An agency's purchased leads: its contacts, with a pipeline status and notes, and all of them
for an export.

Every query is scoped to the caller's agency: another agency's purchase id answers 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.errors import FieldError, NotFound, RuleViolation
from engine.pagination import Page, read_cursor, write_cursor
from engine.sales.models import PIPELINE
from engine.sales.read_models import Project, PurchasedLead, address_of, contact_of

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


def all_purchases(session: Session, caller: Principal, layout: str) -> list[PurchasedLead]:
    """Every purchase of the agency, oldest first, for an export in `layout` (audited: the
    contacts leave Mandat)."""
    agency_id = caller.agency()
    record(session, caller, "purchases.exported", "agency", agency_id,
           **({"layout": layout} if layout != "crm" else {}))  # fmt: skip
    rows = session.execute(
        text(f"{_PURCHASES} ORDER BY p.created_at, p.id"), {"agency": agency_id}
    ).mappings()
    return [_item(row) for row in rows]


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
