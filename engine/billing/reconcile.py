"""Reconciliation (docs/rules.md §7): ledger, documents and Stripe compared, every drift reported.

Run daily by the scheduler and by `mandat billing reconcile`. It reads, never repairs: each drift
names what disagrees, so that finance decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.billing import stripe_gateway as gateway
from engine.billing.documents import PARIS, vat_of


@dataclass(frozen=True)
class Drift:
    kind: str
    subject: str
    expected: Any
    found: Any


def reconcile(session: Session, now: datetime, days: int = 35) -> list[Drift]:
    since = now - timedelta(days=days)
    drifts: list[Drift] = []
    drifts += _documents_add_up(session, since)
    drifts += _ledger_billed(session, now)
    drifts += _payments_match_stripe(session, since)
    drifts += _refunds_match_stripe(session, since)
    return drifts


def _documents_add_up(session: Session, since: datetime) -> list[Drift]:
    """Each document's lines sum to its total HT, its VAT and TTC follow, and each line's
    amount is its ledger line's."""
    drifts = []
    for table, sign in (("invoice", 1), ("credit_note", -1)):
        rows = session.execute(
            text(f"""
                SELECT d.number, d.total_ht_cents, d.vat_cents, d.vat_rate_bp,
                       coalesce(sum(x.amount_ht_cents), 0) AS lines,
                       coalesce(sum(l.amount_cents), 0) AS ledger
                FROM {table} d
                LEFT JOIN document_line x ON x.{table}_id = d.id
                LEFT JOIN ledger_line l ON l.id = x.ledger_line_id
                WHERE d.issued_at >= :since
                GROUP BY d.id
            """),
            {"since": since},
        ).mappings()
        for row in rows:
            if row["lines"] != row["total_ht_cents"]:
                drifts.append(
                    Drift("lines_total", row["number"], row["total_ht_cents"], row["lines"])
                )
            if sign * row["ledger"] != row["total_ht_cents"]:
                drifts.append(
                    Drift(
                        "ledger_total", row["number"], row["total_ht_cents"], sign * row["ledger"]
                    )
                )
            vat = vat_of(int(row["total_ht_cents"]), int(row["vat_rate_bp"]))
            if vat != row["vat_cents"]:
                drifts.append(Drift("vat", row["number"], vat, row["vat_cents"]))
    return drifts


def _ledger_billed(session: Session, now: datetime) -> list[Drift]:
    """Ledger lines of months already billed (before this month) that no document carries,
    once the 1st's run has had a day to finish."""
    local = now.astimezone(PARIS)
    if local.day < 2:
        return []
    month_start = datetime(local.year, local.month, 1, tzinfo=PARIS)
    rows = session.execute(
        text("""
            SELECT l.id, l.agency_id, l.amount_cents FROM ledger_line l
            WHERE l.created_at < :start
              AND NOT EXISTS (SELECT 1 FROM document_line d WHERE d.ledger_line_id = l.id)
        """),
        {"start": month_start},
    ).all()
    return [Drift("unbilled_ledger_line", str(r.id), "billed", r.amount_cents) for r in rows]


def _payments_match_stripe(session: Session, since: datetime) -> list[Drift]:
    drifts = []
    rows = session.execute(
        text("""
            SELECT i.number, i.status, i.total_ttc_cents, i.stripe_payment_intent_id,
                   a.amount_cents AS attempted, a.status AS attempt_status
            FROM invoice i
            LEFT JOIN payment_attempt a ON a.invoice_id = i.id AND a.status = 'succeeded'
            WHERE i.issued_at >= :since
        """),
        {"since": since},
    ).mappings()
    for row in rows:
        if row["status"] == "paid" and row["attempt_status"] is None:
            continue  # nothing was due (credited in full before collection)
        if row["status"] != "paid" and row["attempt_status"] == "succeeded":
            drifts.append(Drift("paid_not_recorded", row["number"], "paid", row["status"]))
        if row["attempt_status"] != "succeeded":
            continue
        if not row["stripe_payment_intent_id"]:
            drifts.append(Drift("payment_without_intent", row["number"], "pi_…", None))
            continue
        try:
            intent = gateway.payment_intent(row["stripe_payment_intent_id"])
        except gateway.StripeUnreachable as error:
            drifts.append(Drift("stripe_unreachable", row["number"], "an answer", str(error)))
            continue
        if intent.get("status") != "succeeded":
            drifts.append(Drift("stripe_status", row["number"], "succeeded", intent.get("status")))
        if int(intent.get("amount", -1)) != int(row["attempted"]):
            drifts.append(
                Drift("stripe_amount", row["number"], row["attempted"], intent.get("amount"))
            )
    return drifts


def _refunds_match_stripe(session: Session, since: datetime) -> list[Drift]:
    drifts = []
    rows = session.execute(
        text("""
            SELECT c.number, c.total_ttc_cents, c.refund_status, c.stripe_refund_id, i.status
            FROM credit_note c JOIN invoice i ON i.id = c.invoice_id
            WHERE c.issued_at >= :since
        """),
        {"since": since},
    ).mappings()
    for row in rows:
        if row["refund_status"] == "deducted":
            continue  # settled by the invoice's smaller charge: no refund to find at Stripe
        if row["refund_status"] != "refunded":
            if row["status"] == "paid":
                drifts.append(
                    Drift("refund_pending", row["number"], "refunded", row["refund_status"])
                )
            continue
        try:
            amount = gateway.refund_amount(row["stripe_refund_id"])
        except gateway.StripeUnreachable as error:
            drifts.append(Drift("stripe_unreachable", row["number"], "an answer", str(error)))
            continue
        if amount != row["total_ttc_cents"]:
            drifts.append(Drift("refund_amount", row["number"], row["total_ttc_cents"], amount))
    return drifts
