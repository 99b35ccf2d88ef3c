"""An agency's standing: its status (active or suspended, and why) and the Stripe ids it pays
with. This module alone writes them (issue 18's one writer per table): dunning suspends an
agency whose invoice stays unpaid, a payment lifts that suspension, the owner's card sets the
Stripe ids."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.db import driver_cursor

_SUSPEND_UNPAID = text("""
    UPDATE agency SET status = 'suspended',
           suspension_reason = coalesce(suspension_reason, 'unpaid')
    WHERE id = :a
""")

# Lifted only when no other unpaid invoice has reached suspension, and never a suspension
# for another reason.
# (Run once per payment collected: straight to psycopg, prepared.)
_LIFT_UNPAID = """
    UPDATE agency SET status = 'active', suspension_reason = NULL
    WHERE id = %(a)s AND status = 'suspended' AND suspension_reason = 'unpaid'
      AND NOT EXISTS (SELECT 1 FROM dunning d WHERE d.agency_id = %(a)s
                      AND d.resolved_at IS NULL AND d.suspended_at IS NOT NULL)
"""

_PAYMENT_METHOD = text("""
    UPDATE agency SET stripe_customer_id = :c, stripe_payment_method_id = :m WHERE id = :a
""")


def suspend_unpaid(session: Session, agency_id: uuid.UUID) -> None:
    """Dunning's last step: the agency buys nothing until it pays (a reason already given is
    kept)."""
    session.execute(_SUSPEND_UNPAID, {"a": agency_id})


def lift_unpaid_suspension(session: Session, agency_id: uuid.UUID) -> None:
    """A payment came in: the agency is active again if nothing else keeps it suspended."""
    driver_cursor(session).execute(_LIFT_UNPAID, {"a": agency_id}, prepare=True)


def set_payment_method(
    session: Session, agency_id: uuid.UUID, customer_id: str, payment_method_id: str
) -> None:
    session.execute(_PAYMENT_METHOD, {"c": customer_id, "m": payment_method_id, "a": agency_id})
