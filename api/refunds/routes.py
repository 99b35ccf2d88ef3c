"""Refund requests: asked by the buying agency, listed for finance, decided by finance."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.auth import Caller, principal
from api.contract import AGENCY_KEY, KEYED, UNREADABLE, conflict, not_found, operation
from api.refunds.schemas import (
    DecisionIn,
    Reason,
    RefundAskedOut,
    RefundDecisionOut,
    RefundIn,
    RefundRequestOut,
    RefundRequestPage,
)
from api.schemas import shaped
from engine.refunds.flows import (
    RefundQuery,
    ask_refund,
    decide_refund,
    read_refund_request,
    refund_requests,
)


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
    ) -> RefundAskedOut:
        """Owner or buyer. Provable cases are decided at once (`rule` says which); a late
        request is recorded as rejected and answered 409 `refund_window_closed`."""
        outcome = ask_refund(caller, purchase_id, data.reason, data.comment, data.call_attempts)
        return RefundAskedOut(outcome.request_id, outcome.status, outcome.rule)  # type: ignore[arg-type]

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
    ) -> RefundRequestPage:
        """An agency sees its own; finance sees all, with each agency's refund rate over 30
        days next to the median of all agencies."""
        query = RefundQuery(status, reason, agency_id, min_age_days, limit, cursor)
        return shaped(refund_requests(caller, query), RefundRequestPage)

    @get(
        "/refund-requests/{request_id:uuid}",
        sync_to_thread=True,
        summary="One request",
        **operation("readRefundRequest", *KEYED, AGENCY_KEY, not_found("refund_request_not_found")),
    )
    def read(self, caller: Caller, request_id: FromPath[uuid.UUID]) -> RefundRequestOut:
        return shaped(read_refund_request(caller, request_id), RefundRequestOut)

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
    ) -> RefundDecisionOut:
        """Finance. An approval is a credit line on the next invoice, or a credit note and a
        Stripe refund when the purchase's invoice is paid. Decided already: 409."""
        decided = decide_refund(caller, request_id, data.decision, data.amount_cents, data.note)
        return shaped({**vars(decided.request), "stripe_refund": decided.stripe_refund},
                      RefundDecisionOut)  # fmt: skip
