"""The demo agency at work: a newcomer who signs in finds contacts bought at every stage of the
pipeline and last month's invoice, not an empty Espace Pro.

Purchases go through the engine's own purchase service, as the demo owner; two of them are then
moved back to the middle of last month (demo data only, so that the monthly billing run has
something to bill) and the billing run issues that month's invoice. The demo agency has no card:
the invoice waits unpaid, and the dashboard shows the banner an agency would see.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text

from engine.accounts.keys import Principal
from engine.billing.run import previous_period, run_billing
from engine.config import owner_database_url
from engine.db import unit_of_work
from engine.errors import MandatError
from engine.sales.buy import PurchaseRequest
from engine.sales.catalogue import CatalogueQuery
from engine.sales.flows import browse_catalogue, buy_lead, work_purchased_lead
from engine.sales.models import PIPELINE

_NOTES = {
    "new": None,
    "contacted": "Premier appel : vend dans 3 mois, souhaite une visite.",
    "appointment": "Visite d'estimation prévue, apporter les ventes du quartier.",
    "mandate_signed": "Mandat exclusif signé.",
    "lost": "A choisi une autre agence.",
}


@dataclass(frozen=True)
class DemoWork:
    purchases: int
    invoice_number: str | None


def seed_demo_work(email: str) -> DemoWork | None:
    """As the demo owner (by e-mail): one purchase per pipeline stage, then last month's
    invoice. Nothing when the agency has bought already (made once) or has nothing to buy."""
    with unit_of_work() as session:
        owner = session.execute(
            text("""
                SELECT u.id, u.agency_id,
                       EXISTS (SELECT 1 FROM purchase p WHERE p.agency_id = u.agency_id) AS bought
                FROM agency_user u WHERE u.email_key = lower(:e)
            """),
            {"e": email},
        ).one_or_none()
    if owner is None or owner.bought:
        return None
    caller = Principal(None, "owner", owner.agency_id, owner.id)
    offers = browse_catalogue(caller, CatalogueQuery(sort="newest", limit=50)).items
    bought: list[uuid.UUID] = []
    for offer in offers:
        if len(bought) == len(PIPELINE):
            break
        request = PurchaseRequest(offer.id, offer.mode, offer.price_cents, f"demo-{offer.id}")
        try:
            bought.append(buy_lead(caller, request).receipt.purchase_id)
        except MandatError:
            continue  # over the demo budget, or sold meanwhile: the next one
    for purchase_id, stage in zip(bought, PIPELINE, strict=False):
        work_purchased_lead(caller, purchase_id, stage, _NOTES[stage])
    if not bought:
        return None
    return DemoWork(len(bought), _last_month_invoice(owner.agency_id, bought[-2:]))


def _last_month_invoice(agency_id: uuid.UUID, purchases: list[uuid.UUID]) -> str | None:
    now = datetime.now(UTC)
    period = previous_period(now)
    bought_at = datetime(period.year, period.month, 15, 10, tzinfo=UTC)
    moved = {"at": bought_at, "ids": purchases}
    with unit_of_work(owner_database_url()) as session:
        session.execute(text("UPDATE purchase SET created_at = :at WHERE id = ANY(:ids)"), moved)
        # The ledger is append-only for everyone; the demo alone rewrites its own history, as the
        # schema's owner (`mandat_app` may not), with the guard lifted for this one statement of
        # this one transaction.
        session.execute(text("ALTER TABLE ledger_line DISABLE TRIGGER ledger_line_append_only"))
        session.execute(
            text("UPDATE ledger_line SET created_at = :at WHERE purchase_id = ANY(:ids)"), moved
        )
        session.execute(text("ALTER TABLE ledger_line ENABLE TRIGGER ledger_line_append_only"))
    run_billing(period, now)
    with unit_of_work() as session:
        number: str | None = session.execute(
            text("SELECT number FROM invoice WHERE agency_id = :a AND period = :p"),
            {"a": agency_id, "p": period},
        ).scalar_one_or_none()
        return number
