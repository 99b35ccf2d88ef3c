"""Every call Mandat makes to Stripe, through the official SDK, in one place.

`STRIPE_API_KEY` authenticates; `STRIPE_API_BASE` points the SDK at a Stripe-compatible server
(the tests' localstripe). Mandat uses Customers, PaymentMethods, off-session PaymentIntents and
Refunds only: it issues its own invoices and credit notes.

Every call keeps this process's pace (`MANDAT_STRIPE_RATE` calls a second, default 80; the
billing run's payment processes share one) and a 429 is retried with backoff under the same
idempotency key: the billing run's concurrent payments stay within what Stripe allows.
"""

from __future__ import annotations

import os
import random
import threading
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


class Pace:
    """At most `rate` calls a second, shared by every thread of the process, evenly spaced; a
    turn no thread was ready to take (every worker busy for a moment) is taken later, up to
    `burst` of them at once, so that a run keeps the rate on average while no second holds
    more than `rate + burst` calls. A 429 from Stripe holds every thread back for the backoff,
    not only the caller, and forfeits the turns saved up.

    Made with a multiprocessing context (`shared_by`), the schedule lives in shared memory and
    the pace is one for every process given it (`use_pace`): the billing run's payment
    processes keep one rate together. `time.monotonic` is the system's clock, the same in every
    process."""

    def __init__(self, rate: float, burst: int = 1, shared_by: Any = None) -> None:
        self.interval = 1 / rate
        # How far behind the schedule may lag: `burst` calls at once after an idle moment.
        self._slack = (max(1, burst) - 1) * self.interval
        self._lock: Any = shared_by.Lock() if shared_by else threading.Lock()
        self._next: Any = shared_by.RawValue("d", 0.0) if shared_by else _Cell()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            turn = max(now, self._next.value)
            self._next.value = max(self._next.value, now - self._slack) + self.interval
        if turn > now:
            time.sleep(turn - now)

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._next.value = max(self._next.value, time.monotonic() + seconds)


class _Cell:
    value = 0.0


@cache
def _pace(rate: float) -> Pace:
    return Pace(rate, burst=round(rate * BURST_S))


_given: Pace | None = None
_shared: dict[float, Pace] = {}
_sharing = threading.Lock()


def use_pace(given: Pace) -> None:
    """Every Stripe call of this process keeps `given` from now on: the pace of the process
    that started it (the billing run's payment processes)."""
    global _given
    _given = given


def pace() -> Pace:
    """This process's pace for Stripe calls: `MANDAT_STRIPE_RATE` calls a second (default 80,
    below Stripe's live limit of about 100 read and 100 write requests a second per account);
    in shared memory once `shared_pace` has put it there, or the one `use_pace` gave it."""
    if _given is not None:
        return _given
    value = rate()
    return _shared.get(value) or _pace(value)


def rate() -> float:
    value = float(os.environ.get("MANDAT_STRIPE_RATE", DEFAULT_RATE))
    if value <= 0:
        raise ValueError("MANDAT_STRIPE_RATE must be positive")
    return value


def shared_pace(context: Any) -> Pace:
    """This process's pace, in shared memory (made with `context`, a multiprocessing context,
    the first time): from then on this process's own calls and those of every process given it
    (`use_pace`) keep one rate together, whichever of its billing runs started them."""
    value = rate()
    with _sharing:
        if value not in _shared:
            _shared[value] = Pace(value, burst=round(value * BURST_S), shared_by=context)
        return _shared[value]


DEFAULT_RATE = 80.0
# Turns missed while every worker was busy are made up, up to a tenth of a second's worth at
# once (8 calls at 80/s): at most 88 in any second, under Stripe's 100.
BURST_S = 0.1
# Stripe's 429 (rate limited): the same request again, with the same idempotency key, after
# 0.5, 1, 2, 4, 8 s (± jitter); still limited after that, Stripe is "unreachable" for now and
# the next run retries with the same key.
RATE_LIMIT_RETRIES = 5
RATE_LIMIT_FIRST_WAIT_S = 0.5


def _backoff(retry: int, error: stripe.RateLimitError) -> float:
    headers = getattr(error, "headers", None) or {}
    after = headers.get("Retry-After") or headers.get("retry-after")
    if after:
        try:
            return min(float(after), 30.0)
        except ValueError:
            pass
    wait: float = RATE_LIMIT_FIRST_WAIT_S * 2**retry
    return wait * random.uniform(0.75, 1.25)


def _call(action: Any) -> Any:
    for retry in range(RATE_LIMIT_RETRIES + 1):
        pace().wait()
        try:
            return action()
        except stripe.RateLimitError as error:
            if retry == RATE_LIMIT_RETRIES:
                raise StripeUnreachable(str(error)) from error
            pace().hold(_backoff(retry, error))  # the retry's turn comes after the backoff
        except stripe.APIConnectionError as error:
            raise StripeUnreachable(str(error)) from error
        except stripe.APIError as error:
            raise StripeUnreachable(str(error)) from error
    raise AssertionError("unreachable")  # pragma: no cover


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
    """One off-session PaymentIntent, confirmed at once.

    Sent with the SDK's `raw_request` (same request, encoding, idempotency key and errors as
    `payment_intents.create`), read as the JSON it is: building the SDK's objects from the
    answer was a sixth of the billing process's CPU during payments (benchmarks/billing.py)."""
    try:
        answer = _call(
            lambda: client().raw_request(
                "post",
                "/v1/payment_intents",
                amount=amount_cents,
                currency="eur",
                customer=customer_id,
                payment_method=payment_method_id,
                confirm=True,
                off_session=True,
                metadata=metadata,
                idempotency_key=idempotency_key,
            )
        )
    except stripe.CardError as error:
        intent_id = getattr(error, "json_body", None) or {}
        pi = (intent_id.get("error") or {}).get("payment_intent") or {}
        return ChargeResult("failed", pi.get("id"), error.code or "card_error")
    intent: dict[str, Any] = answer.data
    if intent["status"] == "succeeded":
        return ChargeResult("succeeded", intent["id"])
    if intent["status"] in ("requires_action", "requires_confirmation"):
        return ChargeResult("failed", intent["id"], "authentication_required")
    return ChargeResult("failed", intent["id"], intent["status"])


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
