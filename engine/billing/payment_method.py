"""The card that pays an agency's invoices: saved through Stripe, then every unpaid invoice is
charged on it at once (which lifts a suspension for non-payment).

Stripe is called between two units of work, never inside one: the agency row is read, the
customer and its PaymentMethod made at Stripe, then the ids stored; each invoice is then
collected in its own transaction (`collect_invoice`).
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe
from sqlalchemy import text

from engine.accounts.keys import Principal
from engine.agencies import standing
from engine.billing import stripe_gateway as gateway
from engine.billing.collecting import collect_invoice
from engine.db import unit_of_work
from engine.errors import PaymentRequired, RuleViolation


@dataclass(frozen=True)
class SavedPaymentMethod:
    payment_method_id: str
    # Each invoice that had failed, by id, and what charging it again did.
    retried_invoices: dict[str, str]


def save_payment_method(caller: Principal, payment_method_id: str) -> SavedPaymentMethod:
    """Owner. A PaymentMethod made client-side with Stripe.js."""
    caller.require("owner")
    agency_id = caller.agency()
    with unit_of_work() as session:
        agency = session.execute(
            text("SELECT name, email, stripe_customer_id FROM agency WHERE id = :a"),
            {"a": agency_id},
        ).one()
    customer = agency.stripe_customer_id or gateway.create_customer(
        str(agency_id), agency.name, agency.email
    )
    method = _attach(customer, payment_method_id)
    with unit_of_work() as session:
        standing.set_payment_method(session, agency_id, customer, method)
        unpaid = list(
            session.execute(
                text("""
                    SELECT id FROM invoice WHERE agency_id = :a AND status = 'payment_failed'
                    ORDER BY issued_at
                """),
                {"a": agency_id},
            ).scalars()
        )
    retried: dict[str, str] = {str(i): collect_invoice(i, new_attempt=True).status for i in unpaid}
    return SavedPaymentMethod(method, retried)


def _attach(customer: str, payment_method_id: str) -> str:
    try:
        return gateway.attach_payment_method(customer, payment_method_id)
    except stripe.CardError as error:
        raise PaymentRequired(
            "This card was refused: use another one.", code=error.code or "card_declined"
        ) from error
    except stripe.InvalidRequestError as error:
        raise RuleViolation.at(
            "payment_method_id", "invalid_payment_method", "Stripe does not know this one."
        ) from error
