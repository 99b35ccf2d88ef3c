"""Stripe's events over HTTP: the one billing route no caller's key opens (Stripe signs it)."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import RawBody

from api.billing.schemas import StripeEventOut
from api.contract import BUSY, TOO_LARGE, Answer, operation
from api.limits import MAX_STRIPE_BODY
from engine.billing.flows import receive_stripe_event


@post(
    "/webhooks/stripe",
    request_max_body_size=MAX_STRIPE_BODY,
    sync_to_thread=True,
    status_code=200,
    tags=["billing"],
    **operation("receiveStripeEvent", Answer(400, ("invalid_signature",)), BUSY, TOO_LARGE),
)
def stripe_webhook(request: Request[Any, Any, Any], body: RawBody) -> StripeEventOut:
    """Stripe's events, verified (signature, timestamp both ways) and stored once by id."""
    outcome = receive_stripe_event(body, request.headers.get("stripe-signature", ""))
    return StripeEventOut(received=True, outcome=outcome)
