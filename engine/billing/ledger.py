"""The ledger's refund lines: money given back on a purchase, never more than was paid."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.errors import Conflict


def add_refund_line(session: Session, purchase_id: uuid.UUID, amount_cents: int) -> int:
    """A negative ledger line for `amount_cents` (positive) on a purchase; the next billing run
    puts it on the purchase's invoice or, if that invoice exists, on a credit note."""
    purchase = session.execute(
        text("""
            SELECT p.agency_id, p.price_cents,
                   coalesce((SELECT -sum(l.amount_cents) FROM ledger_line l
                             WHERE l.purchase_id = p.id AND l.kind = 'refund'), 0) AS refunded
            FROM purchase p WHERE p.id = :id
            FOR UPDATE OF p
        """),
        {"id": purchase_id},
    ).one()
    if amount_cents <= 0 or purchase.refunded + amount_cents > purchase.price_cents:
        raise Conflict(
            "A refund is positive and never more than what was paid.",
            code="refund_exceeds_price",
            refundable_cents=int(purchase.price_cents - purchase.refunded),
        )
    line_id: int = session.execute(
        text("""
            INSERT INTO ledger_line (agency_id, purchase_id, kind, amount_cents, created_at)
            VALUES (:a, :p, 'refund', :amount, clock_timestamp())
            RETURNING id
        """),
        {"a": purchase.agency_id, "p": purchase_id, "amount": -amount_cents},
    ).scalar_one()
    return line_id
