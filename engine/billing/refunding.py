"""Paying a credit note back through Stripe, once, on the payment of its paid invoice.

The Stripe Refund's idempotency key is the credit note's own: retried after an unreachable Stripe
or a crash, Stripe answers the first refund.
"""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import text

from engine.billing import stripe_gateway as gateway
from engine.db import unit_of_work

# A credit note paid back: the same data, negative, when the refund is recorded.
_CREDIT_NOTE_REFUNDED = text("""
    INSERT INTO document_payment (credit_note_id, paid_at, vat_rate_bp, base_cents, vat_cents,
                                  amount_cents)
    SELECT id, clock_timestamp(), vat_rate_bp, -total_ht_cents, -vat_cents, -total_ttc_cents
    FROM credit_note WHERE id = :id
    ON CONFLICT DO NOTHING
""")


def refund_credit_note(credit_note_id: uuid.UUID) -> Literal["refunded", "not_paid", "unreachable"]:
    """Pay a credit note back on its paid invoice's payment (a Stripe Refund), once."""
    with unit_of_work() as session:
        note = (
            session.execute(
                text("""
                SELECT c.id, c.total_ttc_cents, c.refund_status, i.status AS invoice_status,
                       i.stripe_payment_intent_id
                FROM credit_note c JOIN invoice i ON i.id = c.invoice_id
                WHERE c.id = :id FOR UPDATE OF c
            """),
                {"id": credit_note_id},
            )
            .mappings()
            .one()
        )
        if note["refund_status"] == "refunded":
            return "refunded"
        if note["invoice_status"] != "paid" or not note["stripe_payment_intent_id"]:
            return "not_paid"  # the invoice's charge will be smaller instead
    try:
        refund_id = gateway.refund(
            note["stripe_payment_intent_id"],
            int(note["total_ttc_cents"]),
            f"credit-note-{credit_note_id}",
            {"credit_note_id": str(credit_note_id)},
        )
    except gateway.StripeUnreachable:
        return "unreachable"
    with unit_of_work() as session:
        refunded = session.execute(
            text("""
                UPDATE credit_note SET refund_status = 'refunded', stripe_refund_id = :r
                WHERE id = :id AND refund_status <> 'refunded'
            """),
            {"id": credit_note_id, "r": refund_id},
        ).rowcount  # type: ignore[attr-defined]
        if refunded:
            session.execute(_CREDIT_NOTE_REFUNDED, {"id": credit_note_id})
    return "refunded"
