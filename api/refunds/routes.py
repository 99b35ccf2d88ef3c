"""Refund requests: asked by the buying agency, listed for finance, decided by finance."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from msgspec import Meta

from api.auth import Caller, principal
from api.contract import AGENCY_KEY, KEYED, UNREADABLE, conflict, not_found, operation
from api.schemas import Request as Body
from engine.accounts.keys import Principal
from engine.billing.payments import refund_credit_note
from engine.db import unit_of_work
from engine.refunds.models import REASONS
from engine.refunds.service import decide, get_request, list_requests, request_refund

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
assert set(Reason.__args__) == set(REASONS)  # type: ignore[attr-defined]


class RefundIn(Body):
    reason: Reason
    comment: Annotated[str, Meta(max_length=2_000)] = ""
    call_attempts: Annotated[list[datetime], Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )


class DecisionIn(Body):
    decision: Literal["approve", "reject"]
    note: Annotated[str, Meta(max_length=2_000)]
    amount_cents: Annotated[int, Meta(ge=1, le=100_000_000_000)] | None = None


def _scope(caller: Principal) -> uuid.UUID | None:
    return None if caller.role == "finance" else caller.agency()


class RefundController(Controller):
    path = "/api/v1"
    tags = ["refunds"]
    security = [{"BearerAuth": []}]
    dependencies = {"caller": Provide(principal, sync_to_thread=True)}

    @post(
        "/purchases/{purchase_id:uuid}/refund-requests",
        sync_to_thread=True,
        status_code=201,
        summary="Ask for a refund (within the window, once per purchase)",
        **operation(
            "requestRefund",
            *KEYED,
            AGENCY_KEY,
            UNREADABLE,
            not_found("purchase_not_found"),
            conflict("refund_already_requested", "refund_window_closed"),
        ),
    )
    def ask(
        self, caller: Caller, purchase_id: FromPath[uuid.UUID], data: JSONBody[RefundIn]
    ) -> Response[dict[str, Any]]:
        """Owner or buyer. Provable cases are decided at once (`rule` says which); a late
        request is recorded as rejected and answered 409 `refund_window_closed`."""
        with unit_of_work() as session:
            outcome = request_refund(
                session, caller, purchase_id, data.reason, data.comment, data.call_attempts
            )
        if outcome.credit_note_id:
            refund_credit_note(outcome.credit_note_id)
        body: dict[str, Any] = {
            "id": str(outcome.request_id),
            "status": outcome.status,
            "rule": outcome.rule,
        }
        if outcome.rule == "auto:late":
            body.update(
                type="https://mandat.example/problems/refund_window_closed",
                title="Conflict",
                status_code=409,
                code="refund_window_closed",
                detail="The refund window of this purchase has closed.",
            )
            return Response(body, status_code=409, media_type="application/problem+json")
        return Response(body, status_code=201)

    @get(
        "/refund-requests",
        sync_to_thread=True,
        summary="Refund requests, oldest first",
        **operation("listRefundRequests", *KEYED, AGENCY_KEY),
    )
    def list(
        self,
        caller: Caller,
        status: FromQuery[Literal["pending", "approved", "rejected"] | None] = None,
        reason: FromQuery[Reason | None] = None,
        agency_id: FromQuery[uuid.UUID | None] = None,
        min_age_days: Annotated[int | None, QueryParameter(ge=0, le=3650)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> dict[str, Any]:
        """An agency sees its own; finance sees all, with each agency's refund rate over 30
        days next to the median of all agencies."""
        scope = _scope(caller)
        with unit_of_work() as session:
            return list_requests(
                session, scope, status, reason, agency_id, min_age_days, limit, cursor
            )

    @get(
        "/refund-requests/{request_id:uuid}",
        sync_to_thread=True,
        summary="One request",
        **operation("readRefundRequest", *KEYED, AGENCY_KEY, not_found("refund_request_not_found")),
    )
    def read(self, caller: Caller, request_id: FromPath[uuid.UUID]) -> dict[str, Any]:
        with unit_of_work() as session:
            return get_request(session, request_id, _scope(caller))

    @post(
        "/refund-requests/{request_id:uuid}/decision",
        sync_to_thread=True,
        status_code=200,
        summary="Approve (in full or in part) or reject, with a note",
        **operation(
            "decideRefund",
            *KEYED,
            UNREADABLE,
            not_found("refund_request_not_found"),
            conflict("already_decided"),
        ),
    )
    def decision(
        self, caller: Caller, request_id: FromPath[uuid.UUID], data: JSONBody[DecisionIn]
    ) -> dict[str, Any]:
        """Finance. An approval is a credit line on the next invoice, or a credit note and a
        Stripe refund when the purchase's invoice is paid. Decided already: 409."""
        with unit_of_work() as session:
            outcome = decide(
                session, caller, request_id, data.decision, data.amount_cents, data.note
            )
        refunded = refund_credit_note(outcome.credit_note_id) if outcome.credit_note_id else None
        with unit_of_work() as session:
            return {**get_request(session, request_id, None), "stripe_refund": refunded}
