"""Finance's refund queue as its pages read it: the requests of one status with their agencies'
names, and one request with its purchase, lead and the agency's history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from engine.accounts.keys import Principal
from engine.db import unit_of_work
from engine.refunds.listing import list_requests
from engine.refunds.read_models import RefundRequestPage, RefundRequestRecord

QUEUE_LENGTH = 200


@dataclass(frozen=True)
class RefundQueue:
    page: RefundRequestPage
    agency_names: dict[uuid.UUID, str]  # the agencies of this page's requests


@dataclass(frozen=True)
class RefundCase:
    """One request and what finance weighs to decide it."""

    request: RefundRequestRecord
    bought_at: datetime
    mode: str
    refunded_cents: int
    refundable_cents: int
    commune: str
    postal_code: str
    property: dict[str, Any]
    grade: str
    score: int
    allocation: dict[str, Any]  # the purchase's record: reach, distance_m, …
    agency_name: str
    agency_requests: int
    agency_approved: int
    agency_refund_rate: float | None
    median_refund_rate: float | None


_CASE = text("""
    SELECT r.*, p.price_cents, p.mode, p.created_at AS bought_at, p.allocation,
           coalesce((SELECT -sum(l.amount_cents) FROM ledger_line l
                     WHERE l.purchase_id = p.id AND l.kind = 'refund'), 0) AS refunded,
           e.postal_code, c.name AS commune, e.property, ld.grade, ld.score,
           a.name AS agency_name,
           (SELECT count(*) FROM refund_request x WHERE x.agency_id = r.agency_id) AS requests,
           (SELECT count(*) FROM refund_request x WHERE x.agency_id = r.agency_id
              AND x.status = 'approved') AS approved
    FROM refund_request r
    JOIN purchase p ON p.id = r.purchase_id
    JOIN lead ld ON ld.id = p.lead_id
    JOIN estimation e ON e.id = ld.estimation_id
    JOIN commune c ON c.code = e.commune_code
    JOIN agency a ON a.id = r.agency_id
    WHERE r.id = :id
""")


def refund_queue(caller: Principal, status: str) -> RefundQueue:
    """Finance. Oldest first, each agency's refund rate next to the median."""
    caller.require("finance")
    with unit_of_work() as session:
        page = list_requests(session, None, status, None, None, None, QUEUE_LENGTH, None)
        ids = sorted({item.agency_id for item in page.items})
        names = session.execute(
            text("SELECT id, name FROM agency WHERE id = ANY(:ids)"), {"ids": ids}
        ).tuples()
        return RefundQueue(page, dict(names.all()))


def refund_case(caller: Principal, request_id: uuid.UUID) -> RefundCase | None:
    """Finance. None when no request has this id."""
    caller.require("finance")
    with unit_of_work() as session:
        row = session.execute(_CASE, {"id": request_id}).mappings().one_or_none()
        if row is None:
            return None
        rates = list_requests(session, None, None, None, row["agency_id"], None, 1, None)
    refunded = int(row["refunded"])
    return RefundCase(
        request=RefundRequestRecord.of(row),
        bought_at=row["bought_at"],
        mode=row["mode"],
        refunded_cents=refunded,
        refundable_cents=int(row["price_cents"]) - refunded,
        commune=row["commune"],
        postal_code=row["postal_code"],
        property=row["property"],
        grade=row["grade"],
        score=row["score"],
        allocation=row["allocation"],
        agency_name=row["agency_name"],
        agency_requests=row["requests"],
        agency_approved=row["approved"],
        agency_refund_rate=rates.items[0].agency_refund_rate if rates.items else None,
        median_refund_rate=rates.median_refund_rate,
    )
