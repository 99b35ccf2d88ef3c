"""Refund requests (docs/rules.md §8): one per purchase, decided automatically or by finance."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from engine.billing import models as _billing  # noqa: F401 - the tables our foreign keys name
from engine.db import Base

Reason = Literal[
    "unreachable",
    "wrong_number",
    "not_owner",
    "fake",
    "already_sold_or_under_mandate",
    "duplicate",
    "out_of_zone",
    "other",
]
REASONS: tuple[str, ...] = get_args(Reason)
# Reasons no agency gives: the homeowner said "ce n'était pas moi" (rule `auto:not_me`).
RecordedReason = Literal[Reason, "not_me"]
RECORDED_REASONS: tuple[str, ...] = (*REASONS, "not_me")
# A lead refunded for one of these is withdrawn from sale for every agency.
WITHDRAWING_REASONS = ("fake", "wrong_number", "duplicate", "not_me")


class RefundRequest(Base):
    __tablename__ = "refund_request"
    __table_args__ = (
        # One request per purchase from the agency, and at most one refund of the homeowner's
        # "not me" besides it.
        Index(
            "uq_refund_request_once_per_purchase",
            "purchase_id",
            unique=True,
            postgresql_where=text("reason <> 'not_me'"),
        ),
        Index(
            "uq_refund_request_not_me_once_per_purchase",
            "purchase_id",
            unique=True,
            postgresql_where=text("reason = 'not_me'"),
        ),
        CheckConstraint(f"reason IN {RECORDED_REASONS!r}", name="reason"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
        CheckConstraint("reason <> 'other' OR length(trim(comment)) > 0", name="other_explained"),
        CheckConstraint(
            "approved_amount_cents IS NULL OR approved_amount_cents > 0", name="amount_positive"
        ),
        CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)", name="decided_when_not_pending"
        ),
        Index("ix_refund_request_status_created", "status", "created_at"),
        Index("ix_refund_request_agency", "agency_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    purchase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchase.id"))
    agency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agency.id"))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_key.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    reason: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text, server_default=text("''"))
    call_attempts: Mapped[list[Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    # Why it awaits finance even though a rule could decide it (e.g. the agency's refund rate).
    review_reason: Mapped[str | None] = mapped_column(Text)
    decision_rule: Mapped[str | None] = mapped_column(Text)  # auto:<rule> or manual
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_key.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    approved_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    # What the approval did to the money: the ledger line, and the credit note if there is one.
    ledger_line_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_line.id"))
    credit_note_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("credit_note.id"))
