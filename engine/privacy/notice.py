"""What the legal notice and the privacy policy state, read from the live settings (never a copy):
the company (`seller_identity`, as on its invoices), the site's publisher facts (`publisher`),
and how long each kind of data is kept (the retention settings the nightly job applies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.db import unit_of_work
from engine.settings import read_settings


@dataclass(frozen=True)
class Retention:
    unsold_lead_days: int
    sold_lead_days: int
    unfinished_estimation_hours: int
    client_address_hours: int
    access_log_days: int
    outbox_days: int
    invoice_years: int


@dataclass(frozen=True)
class LegalFacts:
    company: dict[str, Any]
    publisher: dict[str, str]
    retention: Retention
    exclusive_window_hours: int
    shared_cap: int
    offer_days: int


# Invoices are kept 10 years (Code de commerce, art. L123-22): the law's term, not a setting.
INVOICE_YEARS = 10


def legal_facts() -> LegalFacts:
    """Public: the facts both legal pages print."""
    with unit_of_work() as session:
        settings = read_settings(session)
    return LegalFacts(
        company=dict(settings["seller_identity"]),
        publisher=dict(settings["publisher"]),
        retention=Retention(
            unsold_lead_days=settings["retention_unsold_days"],
            sold_lead_days=settings["retention_sold_days"],
            unfinished_estimation_hours=settings["retention_estimation_hours"],
            client_address_hours=settings["retention_client_address_hours"],
            access_log_days=settings["retention_access_log_days"],
            outbox_days=settings["retention_outbox_days"],
            invoice_years=INVOICE_YEARS,
        ),
        exclusive_window_hours=settings["exclusive_window_hours"],
        shared_cap=settings["shared_cap"],
        offer_days=settings["offer_days"],
    )
