"""Collecting an invoice through Stripe (`collect_invoice`), and an invoice marked paid or
failed, by a charge or by Stripe's events (`mark_paid`, `mark_failed`).

Double charges are impossible by construction: an attempt row (invoice, attempt number,
idempotency key derived from both) is committed before Stripe is called; a retry after an
unreachable Stripe or a crash reuses that same key, so Stripe answers the first result; a new
key (a new attempt) is only made after a decline, once the card has changed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from psycopg.rows import dict_row
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.agencies import standing
from engine.billing import stripe_gateway as gateway
from engine.db import driver_cursor, unit_of_work
from engine.notify.outbox import enqueue


@dataclass(frozen=True)
class Collection:
    status: Literal["paid", "failed", "unreachable", "nothing_due"]
    error: str | None = None


# The invoice, what it still asks (its total less its credit notes), how to charge it and its
# last payment attempt (none yet: NULLs), locked: one collection or event at a time per invoice.
# Statements of the collection run many times a second in a billing run: they go to psycopg
# directly, prepared (`driver_cursor`).
_INVOICE_DUE = """
    SELECT i.id, i.agency_id, i.number, i.status, i.total_ttc_cents,
           coalesce((SELECT sum(c.total_ttc_cents) FROM credit_note c
                     WHERE c.invoice_id = i.id), 0) AS credited,
           a.name, a.email, a.stripe_customer_id, a.stripe_payment_method_id,
           p.attempt AS last_attempt, p.idempotency_key AS last_key,
           p.status AS last_status, p.amount_cents AS last_amount
    FROM invoice i JOIN agency a ON a.id = i.agency_id
    LEFT JOIN LATERAL (SELECT attempt, idempotency_key, status, amount_cents
                       FROM payment_attempt WHERE invoice_id = i.id
                       ORDER BY attempt DESC LIMIT 1) p ON true
    WHERE i.id = %(id)s
    FOR UPDATE OF i
"""
_NEW_ATTEMPT = """
    INSERT INTO payment_attempt (invoice_id, attempt, idempotency_key, amount_cents)
    VALUES (%(id)s, %(n)s, %(key)s, %(amount)s)
"""
_UNREACHABLE = """
    UPDATE payment_attempt SET status = 'unreachable', error_code = %(e)s
    WHERE invoice_id = %(id)s AND attempt = %(n)s AND status <> 'succeeded'
"""
_ANSWERED = """
    UPDATE payment_attempt
    SET status = %(s)s, stripe_payment_intent_id = %(pi)s, error_code = %(e)s,
        finished_at = clock_timestamp()
    WHERE invoice_id = %(id)s AND attempt = %(n)s AND status <> 'succeeded'
"""


def invoice_due(session: Session, invoice_id: uuid.UUID) -> dict[str, Any] | None:
    """The invoice as a collection reads it (`_INVOICE_DUE`), locked; None when there is none."""
    cursor = driver_cursor(session, dict_row)
    return cursor.execute(_INVOICE_DUE, {"id": invoice_id}, prepare=True).fetchone()


def collect_invoice(invoice_id: uuid.UUID, new_attempt: bool = False) -> Collection:
    """Charge what the invoice still asks (its total less its credit notes) off-session.

    `new_attempt` makes a fresh attempt after a decline (the card has changed); otherwise a
    pending or unreachable attempt is retried with its own key."""
    with unit_of_work() as session:
        invoice = invoice_due(session, invoice_id)
        if invoice is None:
            raise LookupError(f"no invoice {invoice_id}")
        if invoice["status"] == "paid":
            return Collection("paid")
        due = int(invoice["total_ttc_cents"]) - int(invoice["credited"])
        if due <= 0:
            mark_paid(session, invoice_id, None, charged_cents=0)
            return Collection("nothing_due")
        if not invoice["stripe_customer_id"] or not invoice["stripe_payment_method_id"]:
            mark_failed(session, invoice, "no_payment_method")
            return Collection("failed", "no_payment_method")
        last = invoice["last_attempt"]
        if last is None or (invoice["last_status"] == "failed" and new_attempt):
            number = 1 if last is None else last + 1
            key = f"invoice-{invoice_id}-attempt-{number}"
            driver_cursor(session).execute(
                _NEW_ATTEMPT,
                {"id": invoice_id, "n": number, "key": key, "amount": due},
                prepare=True,
            )
        elif invoice["last_status"] == "failed":
            return Collection("failed", "declined")
        else:
            # The same request again, same key and same amount: a credit note issued since is
            # not deducted from this charge (it stays to pay back once the invoice is paid).
            number, key, due = last, invoice["last_key"], invoice["last_amount"]
        customer, method = invoice["stripe_customer_id"], invoice["stripe_payment_method_id"]
    # The attempt is committed: from here a crash or a timeout is retried with the same key.
    try:
        result = gateway.charge(
            customer, method, due, key, {"invoice_id": str(invoice_id), "attempt": str(number)}
        )
    except gateway.StripeUnreachable as error:
        with unit_of_work() as session:
            driver_cursor(session).execute(
                _UNREACHABLE, {"id": invoice_id, "n": number, "e": str(error)[:200]}, prepare=True
            )
        return Collection("unreachable", str(error))
    with unit_of_work() as session:
        status = "succeeded" if result.status == "succeeded" else "failed"
        driver_cursor(session).execute(
            _ANSWERED,
            {
                "s": status,
                "pi": result.payment_intent_id,
                "e": result.error_code,
                "id": invoice_id,
                "n": number,
            },
            prepare=True,
        )
        if status == "succeeded":  # mark_paid's update locks the invoice
            mark_paid(session, invoice_id, result.payment_intent_id, charged_cents=due)
            return Collection("paid")
        invoice = invoice_due(session, invoice_id)
        mark_failed(session, invoice, result.error_code or "declined")
        return Collection("failed", result.error_code)


# The credit notes a charge was made net of (its total less the charge, `deducted`), oldest
# first: paid back by that smaller charge, so never refunded again. A credit note issued after the
# charge was asked for stays `pending`, and the billing run pays it back once the invoice is paid.
_DEDUCTED = """
    UPDATE credit_note c SET refund_status = 'deducted'
    FROM (SELECT id, sum(total_ttc_cents) OVER (ORDER BY issued_at, number) AS running
          FROM credit_note WHERE invoice_id = %(id)s) n
    WHERE c.id = n.id AND c.refund_status = 'pending' AND n.running <= %(deducted)s
"""
# The payment data of a collected invoice (CGI art. 290 A), fixed when it is paid: what was
# charged, its total less the credit notes deducted from the charge, per VAT rate (a document
# has one). Nothing when nothing was collected.
_COLLECTED = """
    INSERT INTO document_payment (invoice_id, paid_at, vat_rate_bp, base_cents, vat_cents,
                                  amount_cents)
    SELECT i.id, i.paid_at, i.vat_rate_bp, i.total_ht_cents - c.ht, i.vat_cents - c.vat,
           i.total_ttc_cents - c.ttc
    FROM invoice i, LATERAL (
        SELECT coalesce(sum(total_ht_cents), 0) AS ht, coalesce(sum(vat_cents), 0) AS vat,
               coalesce(sum(total_ttc_cents), 0) AS ttc
        FROM credit_note WHERE invoice_id = i.id AND refund_status = 'deducted'
    ) c
    WHERE i.id = %(id)s AND i.total_ttc_cents - c.ttc > 0
    ON CONFLICT DO NOTHING
"""
_PAID = """
    UPDATE invoice SET status = 'paid', paid_at = clock_timestamp(),
           stripe_payment_intent_id = coalesce(%(pi)s, stripe_payment_intent_id)
    WHERE id = %(id)s AND status <> 'paid'
    RETURNING agency_id, total_ttc_cents
"""
_DUNNING_RESOLVED = """
    UPDATE dunning SET resolved_at = clock_timestamp()
    WHERE invoice_id = %(id)s AND resolved_at IS NULL
"""


def mark_paid(
    session: Session, invoice_id: uuid.UUID, payment_intent: str | None, charged_cents: int
) -> None:
    """Paid is final: the credit notes the charge was net of are settled by it, and its payment
    data recorded. Any open dunning closes, and a suspension for non-payment is lifted.

    Once the invoice's row is updated (and locked), what follows goes in one round trip."""
    cursor = driver_cursor(session)
    row = cursor.execute(_PAID, {"id": invoice_id, "pi": payment_intent}, prepare=True).fetchone()
    if row is None:
        return
    agency_id, total_ttc_cents = row
    with cursor.connection.pipeline():
        cursor.execute(
            _DEDUCTED,
            {"id": invoice_id, "deducted": int(total_ttc_cents) - charged_cents},
            prepare=True,
        )
        cursor.execute(_COLLECTED, {"id": invoice_id}, prepare=True)
        cursor.execute(_DUNNING_RESOLVED, {"id": invoice_id}, prepare=True)
        standing.lift_unpaid_suspension(session, agency_id)


def mark_failed(session: Session, invoice: Any, reason: str) -> None:
    updated = session.execute(
        text("UPDATE invoice SET status = 'payment_failed' WHERE id = :id AND status <> 'paid'"),
        {"id": invoice["id"]},
    ).rowcount  # type: ignore[attr-defined]
    if not updated:
        return
    opened = session.execute(
        text("""
            INSERT INTO dunning (agency_id, invoice_id, failed_at)
            SELECT :a, :i, clock_timestamp()
            WHERE NOT EXISTS (SELECT 1 FROM dunning WHERE invoice_id = :i AND resolved_at IS NULL)
            RETURNING id
        """),
        {"a": invoice["agency_id"], "i": invoice["id"]},
    ).one_or_none()
    if opened is not None:
        enqueue(
            session,
            [invoice["agency_id"]],
            "invoice.payment_failed",
            f"{invoice['id']}:failed:{opened.id}",
            {"invoice_id": invoice["id"], "number": invoice["number"], "reason": reason},
        )
