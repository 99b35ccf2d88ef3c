"""Every call Mandat makes to Stripe, through the official SDK, in one place.

`STRIPE_API_KEY` authenticates; `STRIPE_API_BASE` points the SDK at a Stripe-compatible server
(the tests' localstripe). Mandat uses Customers, PaymentMethods, off-session PaymentIntents and
Refunds only: it issues its own invoices and credit notes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import stripe


class InvalidSignature(Exception):
    """A webhook whose signature or timestamp does not check out."""


class StripeUnreachable(Exception):
    """Stripe could not be reached or answered with a server error: try again later."""


@dataclass(frozen=True)
class ChargeResult:
    status: str  # succeeded | failed | requires_action
    payment_intent_id: str | None
    error_code: str | None = None


@cache
def _client(key: str, base: str | None) -> stripe.StripeClient:
    addresses: Any = {"api": base, "connect": base, "files": base} if base else {}
    return stripe.StripeClient(key, base_addresses=addresses, max_network_retries=0)


def client() -> stripe.StripeClient:
    key = os.environ.get("STRIPE_API_KEY")
    if not key:
        raise StripeUnreachable("STRIPE_API_KEY is not set")
    return _client(key, os.environ.get("STRIPE_API_BASE"))


def _call(action: Any) -> Any:
    try:
        return action()
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        raise StripeUnreachable(str(error)) from error
    except stripe.APIError as error:
        raise StripeUnreachable(str(error)) from error


def create_customer(agency_id: str, name: str, email: str) -> str:
    customer = _call(
        lambda: client().v1.customers.create(
            params={"name": name, "email": email, "metadata": {"agency_id": agency_id}},
            options={"idempotency_key": f"customer-{agency_id}"},
        )
    )
    return str(customer.id)


def attach_payment_method(customer_id: str, payment_method_id: str) -> str:
    """Attach and make it the customer's default; a card refused at once raises CardError."""
    method = _call(
        lambda: client().v1.payment_methods.attach(
            payment_method_id, params={"customer": customer_id}
        )
    )
    _call(
        lambda: client().v1.customers.update(
            customer_id, params={"invoice_settings": {"default_payment_method": method.id}}
        )
    )
    return str(method.id)


def charge(
    customer_id: str,
    payment_method_id: str,
    amount_cents: int,
    idempotency_key: str,
    metadata: dict[str, str],
) -> ChargeResult:
    """One off-session PaymentIntent, confirmed at once."""
    try:
        intent = _call(
            lambda: client().v1.payment_intents.create(
                params={
                    "amount": amount_cents,
                    "currency": "eur",
                    "customer": customer_id,
                    "payment_method": payment_method_id,
                    "confirm": True,
                    "off_session": True,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        )
    except stripe.CardError as error:
        intent_id = getattr(error, "json_body", None) or {}
        pi = (intent_id.get("error") or {}).get("payment_intent") or {}
        return ChargeResult("failed", pi.get("id"), error.code or "card_error")
    if intent.status == "succeeded":
        return ChargeResult("succeeded", intent.id)
    if intent.status in ("requires_action", "requires_confirmation"):
        return ChargeResult("failed", intent.id, "authentication_required")
    return ChargeResult("failed", intent.id, intent.status)


def refund(
    payment_intent_id: str, amount_cents: int, idempotency_key: str, metadata: dict[str, str]
) -> str:
    result = _call(
        lambda: client().v1.refunds.create(
            params={
                "payment_intent": payment_intent_id,
                "amount": amount_cents,
                "metadata": metadata,
            },
            options={"idempotency_key": idempotency_key},
        )
    )
    return str(result.id)


def payment_intent(payment_intent_id: str) -> dict[str, Any]:
    intent = _call(lambda: client().v1.payment_intents.retrieve(payment_intent_id))
    data: dict[str, Any] = intent.to_dict()
    return data


def verify_event(payload: bytes, signature_header: str, tolerance_s: int = 300) -> dict[str, Any]:
    """The event, if signed with STRIPE_WEBHOOK_SECRET within `tolerance_s` of now — in the
    past (the SDK's check) and in the future (ours: the SDK accepts any future timestamp)."""
    secret = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
    if not secret:
        raise InvalidSignature("no webhook secret configured")
    try:
        event = stripe.Webhook.construct_event(
            payload, signature_header, secret, tolerance=tolerance_s
        )
        stamps = [p.strip()[2:] for p in signature_header.split(",") if p.strip().startswith("t=")]
        future = not stamps or int(stamps[0]) > time.time() + tolerance_s
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise InvalidSignature(str(error)) from error
    if future:
        raise InvalidSignature("timestamp in the future")
    data: dict[str, Any] = event.to_dict()
    return data


def refund_amount(refund_id: str) -> int:
    result = _call(lambda: client().v1.refunds.retrieve(refund_id))
    return int(result.amount)
