"""The refund services as their callers use them (the API, finance's pages): each owns its
units of work, and pays a credit note back through Stripe only once the decision is committed
(never while holding the request's lock)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from engine.accounts.keys import Principal
from engine.billing.refunding import refund_credit_note
from engine.db import retried, unit_of_work
from engine.errors import Conflict
from engine.refunds.deciding import RefundOutcome, decide
from engine.refunds.listing import get_request, list_requests
from engine.refunds.read_models import RefundDecision, RefundRequestPage, RefundRequestRecord
from engine.refunds.requesting import request_refund


@retried
def ask_refund(
    caller: Principal,
    purchase_id: uuid.UUID,
    reason: str,
    comment: str,
    call_attempts: list[datetime],
) -> RefundOutcome:
    """Owner or buyer. A provable case is approved at once (and paid back if its invoice is
    paid); a late request is recorded as rejected, then refused: Conflict `refund_window_closed`."""
    with unit_of_work() as session:
        outcome = request_refund(session, caller, purchase_id, reason, comment, call_attempts)
    if outcome.credit_note_id:
        refund_credit_note(outcome.credit_note_id)
    if outcome.rule == "auto:late":
        raise Conflict(
            "The refund window of this purchase has closed.",
            code="refund_window_closed",
            id=str(outcome.request_id),
            rule=outcome.rule,
        )
    return outcome


def decide_refund(
    caller: Principal,
    request_id: uuid.UUID,
    decision: str,
    amount_cents: int | None,
    note: str,
) -> RefundDecision:
    """Finance approves (in full or in part) or rejects a pending request, with a note."""
    with unit_of_work() as session:
        outcome = decide(session, caller, request_id, decision, amount_cents, note)
    refunded = refund_credit_note(outcome.credit_note_id) if outcome.credit_note_id else None
    with unit_of_work() as session:
        return RefundDecision(get_request(session, request_id, None), refunded)


@dataclass(frozen=True)
class RefundQuery:
    status: str | None = None
    reason: str | None = None
    agency_id: uuid.UUID | None = None  # finance: one agency's
    min_age_days: int | None = None
    limit: int = 50
    cursor: str | None = None


@retried
def refund_requests(caller: Principal, query: RefundQuery) -> RefundRequestPage:
    """Oldest first. An agency sees its own; finance sees all, with each agency's refund rate
    over 30 days and the median of all agencies."""
    scope = _scope(caller)
    with unit_of_work() as session:
        return list_requests(
            session, scope, query.status, query.reason, query.agency_id, query.min_age_days,
            query.limit, query.cursor,
        )  # fmt: skip


@retried
def read_refund_request(caller: Principal, request_id: uuid.UUID) -> RefundRequestRecord:
    scope = _scope(caller)
    with unit_of_work() as session:
        return get_request(session, request_id, scope)


def _scope(caller: Principal) -> uuid.UUID | None:
    """Finance reads every agency's requests; an agency its own."""
    return None if caller.role == "finance" else caller.agency()
