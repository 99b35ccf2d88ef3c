"""Refund requests (docs/rules.md §8): asked by the buying agency, decided by a rule when the case
is provable, else by finance; an approval moves the money and, for some reasons, withdraws the lead.

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
from engine.contact.validation import phone_e164
from engine.errors import Conflict, FieldError, NotFound, RuleViolation
from engine.notify.outbox import enqueue
from engine.pagination import read_cursor, write_cursor
from engine.refunds.models import REASONS, WITHDRAWING_REASONS, RefundRequest
from engine.refunds.read_models import RefundRequestPage, RefundRequestRecord
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


@dataclass(frozen=True)
class RefundOutcome:
    request_id: uuid.UUID
    status: str
    rule: str | None
    credit_note_id: uuid.UUID | None = None  # to pay back through Stripe once committed


_PURCHASE = text("""
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
        session.execute(_PURCHASE, {"id": purchase_id, "agency": agency_id})
        .mappings()
        .one_or_none()
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
        _close(session, request, "rejected", decision.rule, None, RULE_NOTES[decision.rule])
    elif decision.status == "approved":
        refundable = int(purchase["price_cents"]) - int(purchase["refunded"])
        proof = str(decision.rule).removeprefix("auto:")
        note = _approve(
            session, request, refundable, str(decision.rule), None, f"Provable: {proof}.", now
        )
        return RefundOutcome(request.id, "approved", decision.rule, note)
    elif decision.review_reason is not None:
        request.review_reason = decision.review_reason
        session.flush()
    return RefundOutcome(request.id, decision.status, decision.rule)


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
        note = _approve(session, request, refundable, "auto:not_me", None, NOT_ME_NOTE, now)
        outcomes.append(RefundOutcome(request.id, "approved", "auto:not_me", note))
    return outcomes


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
        _close(session, row, "rejected", "manual", caller, note)
        return RefundOutcome(row.id, "rejected", "manual")
    purchase = (
        session.execute(_PURCHASE, {"id": row.purchase_id, "agency": row.agency_id})
        .mappings()
        .one()
    )
    refundable = int(purchase["price_cents"]) - int(purchase["refunded"])
    amount = refundable if amount_cents is None else amount_cents
    if not 0 < amount <= refundable:
        raise RuleViolation.at(
            "amount_cents",
            "refund_exceeds_price",
            f"Between 1 and {refundable} cents: never more than what was paid.",
        )
    credit_note = _approve(session, row, amount, "manual", caller, note, now)
    return RefundOutcome(row.id, "approved", "manual", credit_note)


def _approve(
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
        withdrawn = bool(
            session.execute(
                text("""
                    UPDATE offer SET withdrawn_at = clock_timestamp(),
                           withdrawn_reason = :reason
                    WHERE lead_id = (SELECT lead_id FROM purchase WHERE id = :p)
                      AND withdrawn_at IS NULL
                    RETURNING lead_id
                """),
                {"reason": f"refund:{request.reason}", "p": request.purchase_id},
            ).first()
        )
    _close(
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


def _close(
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


_LIST = """
    SELECT r.*, p.price_cents FROM refund_request r JOIN purchase p ON p.id = r.purchase_id
    WHERE (CAST(:agency AS uuid) IS NULL OR r.agency_id = :agency)
"""

_RATES = text("""
    WITH bought AS (
        SELECT agency_id, sum(price_cents) AS cents FROM purchase
        WHERE created_at > clock_timestamp() - interval '30 days' GROUP BY agency_id
    ), refunded AS (
        SELECT agency_id, sum(approved_amount_cents) AS cents FROM refund_request
        WHERE status = 'approved' AND decided_at > clock_timestamp() - interval '30 days'
          AND decision_rule IS DISTINCT FROM 'auto:not_me'
        GROUP BY agency_id
    )
    SELECT b.agency_id, coalesce(r.cents, 0)::float / b.cents AS rate
    FROM bought b LEFT JOIN refunded r USING (agency_id)
""")


def list_requests(
    session: Session,
    agency_id: uuid.UUID | None,
    status: str | None,
    reason: str | None,
    for_agency: uuid.UUID | None,
    min_age_days: int | None,
    limit: int,
    cursor: str | None,
) -> RefundRequestPage:
    """Oldest first. Staff (`agency_id` None) see every agency's, with each agency's refund
    rate over 30 days and the median of all agencies that bought."""
    where: list[str] = []
    params: dict[str, Any] = {"agency": agency_id, "limit": limit + 1}
    if status:
        where.append("r.status = :status")
        params["status"] = status
    if reason:
        where.append("r.reason = :reason")
        params["reason"] = reason
    if for_agency:
        where.append("r.agency_id = :for_agency")
        params["for_agency"] = for_agency
    if min_age_days is not None:
        where.append("r.created_at <= clock_timestamp() - make_interval(days => :age)")
        params["age"] = min_age_days
    if cursor:
        at, last = read_cursor(cursor, datetime)
        where.append("(r.created_at, r.id) > (:at, :last)")
        params.update(at=at, last=last)
    sql = _LIST + "".join(f" AND {w}" for w in where) + " ORDER BY r.created_at, r.id LIMIT :limit"
    rows = session.execute(text(sql), params).mappings().all()
    rates = None
    median = None
    if agency_id is None:
        rates = {r.agency_id: r.rate for r in session.execute(_RATES)}
        ordered = sorted(rates.values())
        if ordered:
            middle = len(ordered) // 2
            median = (
                ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
            )
    items = [RefundRequestRecord.of(r, rates) for r in rows[:limit]]
    next_cursor = (
        write_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["id"])
        if len(rows) > limit
        else None
    )
    return RefundRequestPage(items, next_cursor, median)


def get_request(
    session: Session, request_id: uuid.UUID, agency_id: uuid.UUID | None
) -> RefundRequestRecord:
    row = (
        session.execute(text(_LIST + " AND r.id = :id"), {"agency": agency_id, "id": request_id})
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound("No refund request of yours has this id.", code="refund_request_not_found")
    return RefundRequestRecord.of(row)
