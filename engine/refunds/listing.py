"""Reading refund requests: a page of them, oldest first, or one; staff see every agency's with
the agencies' refund rates."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.pagination import read_cursor, write_cursor
from engine.refunds.read_models import RefundRequestPage, RefundRequestRecord

_LIST = """
    SELECT r.*, p.price_cents FROM refund_request r JOIN purchase p ON p.id = r.purchase_id
    WHERE (CAST(:agency AS uuid) IS NULL OR r.agency_id = :agency)
"""

_RATES = text("""
    WITH bought AS (
        SELECT agency_id, sum(price_cents) AS cents FROM purchase
        WHERE created_at > clock_timestamp() - interval '30 days' GROUP BY agency_id
    ), refunded AS (
        SELECT agency_id, sum(approved_amount_cents) AS cents FROM refund_request
        WHERE status = 'approved' AND decided_at > clock_timestamp() - interval '30 days'
          AND decision_rule IS DISTINCT FROM 'auto:not_me'
        GROUP BY agency_id
    )
    SELECT b.agency_id, coalesce(r.cents, 0)::float / b.cents AS rate
    FROM bought b LEFT JOIN refunded r USING (agency_id)
""")


def list_requests(
    session: Session,
    agency_id: uuid.UUID | None,
    status: str | None,
    reason: str | None,
    for_agency: uuid.UUID | None,
    min_age_days: int | None,
    limit: int,
    cursor: str | None,
) -> RefundRequestPage:
    """Oldest first. Staff (`agency_id` None) see every agency's, with each agency's refund
    rate over 30 days and the median of all agencies that bought."""
    where: list[str] = []
    params: dict[str, Any] = {"agency": agency_id, "limit": limit + 1}
    if status:
        where.append("r.status = :status")
        params["status"] = status
    if reason:
        where.append("r.reason = :reason")
        params["reason"] = reason
    if for_agency:
        where.append("r.agency_id = :for_agency")
        params["for_agency"] = for_agency
    if min_age_days is not None:
        where.append("r.created_at <= clock_timestamp() - make_interval(days => :age)")
        params["age"] = min_age_days
    if cursor:
        at, last = read_cursor(cursor, datetime)
        where.append("(r.created_at, r.id) > (:at, :last)")
        params.update(at=at, last=last)
    sql = _LIST + "".join(f" AND {w}" for w in where) + " ORDER BY r.created_at, r.id LIMIT :limit"
    rows = session.execute(text(sql), params).mappings().all()
    rates = None
    median = None
    if agency_id is None:
        rates = {r.agency_id: r.rate for r in session.execute(_RATES)}
        ordered = sorted(rates.values())
        if ordered:
            middle = len(ordered) // 2
            median = (
                ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
            )
    items = [RefundRequestRecord.of(r, rates) for r in rows[:limit]]
    next_cursor = (
        write_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["id"])
        if len(rows) > limit
        else None
    )
    return RefundRequestPage(items, next_cursor, median)


def get_request(
    session: Session, request_id: uuid.UUID, agency_id: uuid.UUID | None
) -> RefundRequestRecord:
    row = (
        session.execute(text(_LIST + " AND r.id = :id"), {"agency": agency_id, "id": request_id})
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound("No refund request of yours has this id.", code="refund_request_not_found")
    return RefundRequestRecord.of(row)
