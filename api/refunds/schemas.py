"""Refund requests' shapes: the request an agency sends, finance's decision, what both read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from api.schemas import Out, Request
from engine.refunds.models import Reason, RecordedReason

Status = Literal["pending", "approved", "rejected"]


class RefundIn(Request):
    reason: Reason
    comment: Annotated[str, Meta(max_length=2_000)] = ""
    call_attempts: Annotated[list[datetime], Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )


class DecisionIn(Request):
    decision: Literal["approve", "reject"]
    note: Annotated[str, Meta(max_length=2_000)]
    amount_cents: Annotated[int, Meta(ge=1, le=100_000_000_000)] | None = None


class RefundAskedOut(Out):
    """`rule` names the rule that decided at once (`auto:<rule>`), or is null: finance decides."""

    id: uuid.UUID
    status: Status
    rule: str | None


class RefundRequestOut(Out, omit_defaults=True):
    """A refund request. `agency_refund_rate` (approved refunds over purchases, last 30 days)
    comes only in finance's lists."""

    id: uuid.UUID
    purchase_id: uuid.UUID
    agency_id: uuid.UUID
    created_at: datetime
    reason: Annotated[
        RecordedReason,
        Meta(description="the agency's reason, or `not_me`: the homeowner disowned the request"),
    ]
    comment: str
    call_attempts: list[str]
    status: Status
    review_reason: str | None
    decision_rule: str | None
    decided_at: datetime | None
    decision_note: str | None
    approved_amount_cents: int | None
    credit_note_id: uuid.UUID | None
    price_cents: int
    agency_refund_rate: float | None = None


class RefundRequestPage(Out):
    items: list[RefundRequestOut]
    next_cursor: str | None
    median_refund_rate: float | None


class RefundDecisionOut(RefundRequestOut, omit_defaults=True, kw_only=True):
    """The decided request; `stripe_refund` says what became of the money when a credit note
    was made: `refunded`, `not_paid` (the next invoice is smaller), `unreachable` (retried)."""

    stripe_refund: Literal["refunded", "not_paid", "unreachable"] | None
