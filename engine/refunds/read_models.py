"""What the refund services answer: typed read models of refund requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RefundRequestRecord:
    """A refund request as its agency and finance read it. `agency_refund_rate` (approved
    refunds over purchases, last 30 days) only in finance's lists."""

    id: uuid.UUID
    purchase_id: uuid.UUID
    agency_id: uuid.UUID
    created_at: datetime
    reason: str
    comment: str
    call_attempts: list[str]
    status: str
    review_reason: str | None
    decision_rule: str | None
    decided_at: datetime | None
    decision_note: str | None
    approved_amount_cents: int | None
    credit_note_id: uuid.UUID | None
    price_cents: int
    agency_refund_rate: float | None = None

    @classmethod
    def of(cls, row: Any, rates: dict[uuid.UUID, float] | None = None) -> RefundRequestRecord:
        return cls(
            id=row["id"],
            purchase_id=row["purchase_id"],
            agency_id=row["agency_id"],
            created_at=row["created_at"],
            reason=row["reason"],
            comment=row["comment"],
            call_attempts=row["call_attempts"],
            status=row["status"],
            review_reason=row["review_reason"],
            decision_rule=row["decision_rule"],
            decided_at=row["decided_at"],
            decision_note=row["decision_note"],
            approved_amount_cents=row["approved_amount_cents"],
            credit_note_id=row["credit_note_id"],
            price_cents=row["price_cents"],
            agency_refund_rate=None if rates is None else rates.get(row["agency_id"], 0.0),
        )


@dataclass(frozen=True)
class RefundRequestPage:
    items: list[RefundRequestRecord]
    next_cursor: str | None
    median_refund_rate: float | None


@dataclass(frozen=True)
class RefundDecision:
    """A decided request, and what became of its Stripe refund: `refunded`, `not_paid` (the
    next invoice is smaller instead), `unreachable` (retried later) or None (no credit note)."""

    request: RefundRequestRecord
    stripe_refund: str | None
