"""Deciding a refund request (docs/rules.md §8): by finance, or by the rule that settles a
provable case; an approval moves the money and, for some reasons, withdraws the lead.

Every decision records the rule that made it (`auto:<rule>` or `manual`) and goes to the audit
log with its effect; the agency is notified (webhook and e-mail) of each decision.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.billing.documents import credit_now
from engine.billing.ledger import add_refund_line
from engine.errors import Conflict, NotFound, RuleViolation
from engine.notify.outbox import enqueue
from engine.refunds.models import WITHDRAWING_REASONS, RefundRequest
from engine.sales import offers


@dataclass(frozen=True)
class RefundOutcome:
    request_id: uuid.UUID
    status: str
    rule: str | None
    credit_note_id: uuid.UUID | None = None  # to pay back through Stripe once committed


# A purchase of the agency, locked, with what it cost and what was refunded of it so far.
PURCHASE = text("""
    SELECT p.id, p.agency_id, p.lead_id, p.price_cents, p.created_at, p.allocation,
           l.phone_e164, l.email_key, lc.withdrawn_at AS consent_withdrawn_at,
           coalesce((SELECT -sum(x.amount_cents) FROM ledger_line x
                     WHERE x.purchase_id = p.id AND x.kind = 'refund'), 0) AS refunded
    FROM purchase p
    JOIN lead l ON l.id = p.lead_id
    LEFT JOIN lead_consent lc ON lc.lead_id = p.lead_id AND lc.agency_id = p.agency_id
    WHERE p.id = :id AND p.agency_id = :agency
    FOR UPDATE OF p
""")

NOT_ME_NOTE = (
    "The homeowner says they never made this request: the lead is withdrawn and refunded in "
    "full. Do not contact this person."
)

# Every purchase of the lead, locked, with what is left to refund and the agency's own request.
_PURCHASES_OF_LEAD = text("""
    SELECT p.id, p.agency_id, p.price_cents,
           coalesce((SELECT -sum(x.amount_cents) FROM ledger_line x
                     WHERE x.purchase_id = p.id AND x.kind = 'refund'), 0) AS refunded,
           (SELECT r.id FROM refund_request r
            WHERE r.purchase_id = p.id AND r.status = 'pending') AS pending_request
    FROM purchase p WHERE p.lead_id = :lead
    ORDER BY p.created_at, p.id
    FOR UPDATE OF p
""")


def refund_not_me(session: Session, lead_id: uuid.UUID) -> list[RefundOutcome]:
    """The homeowner said "ce n'était pas moi": every buyer gets back all it has not been
    refunded yet, by the rule `auto:not_me`, with the same effects as any approval (ledger line,
    credit line or credit note, audit, notification). An agency's pending request is decided this
    way; otherwise a request of reason `not_me` is recorded for it. Running it again refunds
    nothing more."""
    now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    outcomes = []
    for purchase in session.execute(_PURCHASES_OF_LEAD, {"lead": lead_id}).mappings().all():
        refundable = int(purchase["price_cents"]) - int(purchase["refunded"])
        if refundable <= 0:
            continue
        if purchase["pending_request"] is not None:
            request = session.get(RefundRequest, purchase["pending_request"], with_for_update=True)
            assert request is not None
        else:
            request = RefundRequest(
                purchase_id=purchase["id"],
                agency_id=purchase["agency_id"],
                requested_by=None,
                created_at=now,
                reason="not_me",
                comment="",
                call_attempts=[],
            )
            session.add(request)
            session.flush()
            record(session, None, "refund.requested", "refund_request", request.id,
                   reason="not_me")  # fmt: skip
        note = approve(session, request, refundable, "auto:not_me", None, NOT_ME_NOTE, now)
        outcomes.append(RefundOutcome(request.id, "approved", "auto:not_me", note))
    return outcomes


def decide(
    session: Session,
    caller: Principal,
    request_id: uuid.UUID,
    decision: str,
    amount_cents: int | None,
    note: str,
) -> RefundOutcome:
    """Finance approves (in full or in part) or rejects a pending request, always with a note."""
    caller.require("finance")
    if not note.strip():
        raise RuleViolation.at("note", "required", "A decision always says why.")
    # Locked, and read again after the lock: a clerk who waited sees the other's decision.
    row = session.get(RefundRequest, request_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound("No refund request has this id.", code="refund_request_not_found")
    if row.status != "pending":
        raise Conflict(f"This request is already {row.status}.", code="already_decided")
    now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    if decision == "reject":
        if amount_cents is not None:
            raise RuleViolation.at(
                "amount_cents", "not_for_rejection", "A rejection has no amount."
            )
        close(session, row, "rejected", "manual", caller, note)
        return RefundOutcome(row.id, "rejected", "manual")
    purchase = (
        session.execute(PURCHASE, {"id": row.purchase_id, "agency": row.agency_id}).mappings().one()
    )
    refundable = int(purchase["price_cents"]) - int(purchase["refunded"])
    amount = refundable if amount_cents is None else amount_cents
    if not 0 < amount <= refundable:
        raise RuleViolation.at(
            "amount_cents",
            "refund_exceeds_price",
            f"Between 1 and {refundable} cents: never more than what was paid.",
        )
    credit_note = approve(session, row, amount, "manual", caller, note, now)
    return RefundOutcome(row.id, "approved", "manual", credit_note)


def approve(
    session: Session,
    request: RefundRequest,
    amount: int,
    rule: str,
    caller: Principal | None,
    note: str,
    now: datetime,
) -> uuid.UUID | None:
    line = add_refund_line(session, request.purchase_id, amount)
    request.approved_amount_cents = amount
    request.ledger_line_id = line
    credit = credit_now(session, request.agency_id, line, now + timedelta(seconds=1))
    request.credit_note_id = credit.id if credit else None
    withdrawn = False
    if request.reason in WITHDRAWING_REASONS:
        reason = f"refund:{request.reason}"
        withdrawn = bool(offers.withdraw(session, None, reason, purchase_id=request.purchase_id))
    close(
        session,
        request,
        "approved",
        rule,
        caller,
        note,
        effect={
            "amount_cents": amount,
            "ledger_line_id": line,
            "credit_note_id": str(credit.id) if credit else None,
            "lead_withdrawn": withdrawn,
        },
    )
    return credit.id if credit else None


def close(
    session: Session,
    request: RefundRequest,
    status: str,
    rule: str,
    caller: Principal | None,
    note: str,
    effect: dict[str, Any] | None = None,
) -> None:
    request.status = status
    request.decision_rule = rule
    request.decided_by = caller.key_id if caller else None
    request.decided_at = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    request.decision_note = note
    session.flush()
    record(
        session,
        caller,
        f"refund.{status}",
        "refund_request",
        request.id,
        rule=rule,
        purchase_id=str(request.purchase_id),
        **(effect or {}),
    )
    enqueue(
        session,
        [request.agency_id],
        "refund.decided",
        str(request.id),
        {
            "refund_request_id": request.id,
            "purchase_id": request.purchase_id,
            "status": status,
            "rule": rule,
            "amount_cents": request.approved_amount_cents,
            "note": note,
        },
    )
