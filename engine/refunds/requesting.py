"""Asking for a refund (docs/rules.md §8): the buying agency asks, a rule decides at once when
the case is provable (`engine.refunds.rules.first_decision`), else the request waits for finance."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import Principal
from engine.audit import record
from engine.contact.validation import phone_e164
from engine.errors import Conflict, FieldError, NotFound, RuleViolation
from engine.refunds.deciding import PURCHASE, RefundOutcome, approve, close
from engine.refunds.models import REASONS, RefundRequest
from engine.refunds.rules import Case, Rules, first_decision
from engine.settings import read_settings

MAX_ATTEMPTS = 20
# The note of each decision a rule makes when the request is asked.
RULE_NOTES = {
    "auto:late": "Asked after the refund window.",
    "auto:bought_as_extended": (
        "Bought as extended reach: the catalogue showed the distance before the purchase."
    ),
}

# The agency's approved refunds and purchases over the last 30 days, in cents.
_RATE = text("""
    SELECT coalesce((SELECT sum(r.approved_amount_cents) FROM refund_request r
                     WHERE r.agency_id = :agency AND r.status = 'approved'
                       AND r.decision_rule IS DISTINCT FROM 'auto:not_me'
                       AND r.decided_at > :now - interval '30 days'), 0) AS refunded,
           coalesce((SELECT sum(p.price_cents) FROM purchase p
                     WHERE p.agency_id = :agency
                       AND p.created_at > :now - interval '30 days'), 0) AS bought
""")

_SAME_PERSON_BOUGHT_BEFORE = text("""
    SELECT EXISTS (
        SELECT 1 FROM purchase p JOIN lead l ON l.id = p.lead_id
        WHERE p.agency_id = :agency AND p.id <> :purchase AND p.created_at <= :at
          AND (l.phone_e164 = :phone OR l.email_key = :email)
    )
""")


def request_refund(
    session: Session,
    caller: Principal,
    purchase_id: uuid.UUID,
    reason: str,
    comment: str,
    call_attempts: list[datetime],
) -> RefundOutcome:
    caller.require("owner", "buyer")
    agency_id = caller.agency()
    purchase = (
        session.execute(PURCHASE, {"id": purchase_id, "agency": agency_id}).mappings().one_or_none()
    )
    if purchase is None:
        raise NotFound("No purchase of your agency has this id.", code="purchase_not_found")
    if session.execute(
        text("SELECT 1 FROM refund_request WHERE purchase_id = :p AND reason <> 'not_me'"),
        {"p": purchase_id},
    ).first():
        raise Conflict(
            "A refund was already asked for this purchase.", code="refund_already_requested"
        )
    now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    _validate(reason, comment, call_attempts, purchase["created_at"], now)
    settings = read_settings(session)
    request = RefundRequest(
        purchase_id=purchase_id,
        agency_id=agency_id,
        requested_by=caller.key_id,
        created_at=now,
        reason=reason,
        comment=comment.strip(),
        call_attempts=[a.isoformat() for a in call_attempts],
    )
    session.add(request)
    session.flush()
    record(session, caller, "refund.requested", "refund_request", request.id, reason=reason)

    rules = Rules(
        timedelta(days=int(settings["refund_window_days"])),
        int(settings["refund_review_rate_bp"]),
    )
    decision = first_decision(_case(session, purchase, reason, now), rules, now)
    if decision.status == "rejected":
        assert decision.rule is not None
        close(session, request, "rejected", decision.rule, None, RULE_NOTES[decision.rule])
    elif decision.status == "approved":
        refundable = int(purchase["price_cents"]) - int(purchase["refunded"])
        proof = str(decision.rule).removeprefix("auto:")
        note = approve(
            session, request, refundable, str(decision.rule), None, f"Provable: {proof}.", now
        )
        return RefundOutcome(request.id, "approved", decision.rule, note)
    elif decision.review_reason is not None:
        request.review_reason = decision.review_reason
        session.flush()
    return RefundOutcome(request.id, decision.status, decision.rule)


def _validate(
    reason: str, comment: str, attempts: list[datetime], bought_at: datetime, now: datetime
) -> None:
    errors = []
    if reason not in REASONS:
        errors.append(FieldError("reason", "unknown_reason", f"One of {', '.join(REASONS)}."))
    if reason == "other" and not comment.strip():
        errors.append(FieldError("comment", "required", "Say what is wrong with this lead."))
    if reason == "unreachable" and not attempts:
        errors.append(
            FieldError("call_attempts", "required", "When did you call? At least one attempt.")
        )
    if len(attempts) > MAX_ATTEMPTS:
        errors.append(FieldError("call_attempts", "too_many", f"At most {MAX_ATTEMPTS}."))
    for index, at in enumerate(attempts):
        if at.tzinfo is None or not bought_at <= at <= now:
            errors.append(
                FieldError(
                    f"call_attempts[{index}]",
                    "invalid_call_attempt",
                    "A call attempt is a time with its offset, after the purchase and not later "
                    "than now.",
                )
            )
    if errors:
        raise RuleViolation(errors)


def _case(session: Session, purchase: Any, reason: str, now: datetime) -> Case:
    """The facts `first_decision` weighs, read from our own records (the duplicate check only
    when it is the reason asked)."""
    rate = session.execute(_RATE, {"agency": purchase["agency_id"], "now": now}).one()
    same_person = reason == "duplicate" and bool(
        session.execute(
            _SAME_PERSON_BOUGHT_BEFORE,
            {
                "agency": purchase["agency_id"],
                "purchase": purchase["id"],
                "at": purchase["created_at"],
                "phone": purchase["phone_e164"],
                "email": purchase["email_key"],
            },
        ).scalar_one()
    )
    phone = purchase["phone_e164"]
    return Case(
        reason=reason,
        bought_at=purchase["created_at"],
        reach=purchase["allocation"].get("reach"),
        consent_withdrawn=purchase["consent_withdrawn_at"] is not None,
        same_person_bought_before=same_person,
        phone_dialable=bool(phone) and phone_e164(phone) is not None,
        refunded_30d_cents=int(rate.refunded),
        bought_30d_cents=int(rate.bought),
    )
