"""Stripe's events about our payments, verified upstream (`flows.receive_stripe_event`): each
stored once by id; a succeeded or failed PaymentIntent settles its invoice, if it is what the
invoice asks."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.billing.collecting import invoice_due, mark_failed, mark_paid

log = logging.getLogger(__name__)


Outcome = Literal["duplicate", "ignored", "mismatch", "paid", "failed"]


def handle_event(session: Session, event: dict[str, Any]) -> Outcome:
    """A verified Stripe event, stored once by id; a duplicate or a stale event changes nothing."""
    stored = session.execute(
        text("""
            INSERT INTO stripe_event (id, type, created, payload)
            VALUES (:id, :type, to_timestamp(:created), CAST(:payload AS jsonb))
            ON CONFLICT (id) DO NOTHING RETURNING id
        """),
        {
            "id": event["id"],
            "type": event["type"],
            "created": event.get("created", 0),
            "payload": json.dumps(event),
        },
    ).one_or_none()
    if stored is None:
        return "duplicate"
    intent = (event.get("data") or {}).get("object") or {}
    invoice_id = (intent.get("metadata") or {}).get("invoice_id")
    if not invoice_id:
        return "ignored"
    try:
        invoice_uuid = uuid.UUID(invoice_id)
    except ValueError:
        return "ignored"
    invoice = invoice_due(session, invoice_uuid)
    if invoice is None:
        return "ignored"
    if event["type"] == "payment_intent.succeeded":
        if not _pays_this_invoice(intent, invoice):
            log.warning(
                "payment_intent.succeeded %s does not match invoice %s: left unpaid",
                intent.get("id"),
                invoice["number"],
            )
            return "mismatch"
        session.execute(
            text("""
                UPDATE payment_attempt SET status = 'succeeded', finished_at = clock_timestamp()
                WHERE stripe_payment_intent_id = :pi AND status <> 'succeeded'
                  AND NOT EXISTS (SELECT 1 FROM payment_attempt s
                                  WHERE s.invoice_id = :i AND s.status = 'succeeded')
            """),
            {"pi": intent.get("id"), "i": invoice_uuid},
        )
        mark_paid(session, invoice_uuid, intent.get("id"), charged_cents=intent_amount(intent))
        return "paid"
    if event["type"] == "payment_intent.payment_failed":
        code = (intent.get("last_payment_error") or {}).get("code") or "declined"
        mark_failed(session, invoice, code)  # a paid invoice stays paid: events come late
        return "failed"
    return "ignored"


def intent_amount(intent: dict[str, Any]) -> Any:
    """What a PaymentIntent took, in cents (an int when Stripe says it)."""
    return intent.get("amount_received", intent.get("amount"))


def _pays_this_invoice(intent: dict[str, Any], invoice: Any) -> bool:
    """A succeeded payment settles the invoice only if it is what the invoice asks: the amount
    still due (total less credit notes), in euros, from the agency's own Stripe customer. A
    payment of another amount (or a forged metadata on some other charge) stays for
    reconciliation to report; it never marks the invoice paid (finding F19)."""
    received = intent_amount(intent)
    due = invoice["total_ttc_cents"] - invoice["credited"]
    customer = invoice["stripe_customer_id"]
    return (
        isinstance(received, int)
        and received == due
        and str(intent.get("currency", "")).lower() == "eur"
        and (customer is None or intent.get("customer") == customer)
    )
