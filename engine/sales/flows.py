"""The marketplace as an agency uses it (the API, the agency's pages): each service owns its
unit of work and reads the agency from the caller, so one agency never sees another's."""

from __future__ import annotations

import uuid

from engine.accounts.keys import Principal
from engine.db import AsyncDatabase, get_engine, retried, unit_of_work
from engine.pagination import Page
from engine.replica import read_lagging
from engine.sales.buy import PurchaseAnswer, PurchaseRequest, buy, buy_on
from engine.sales.catalogue import CatalogueQuery, catalogue, in_catalogue, offer_for
from engine.sales.contacts import all_purchases, get_purchase, list_purchases, update_purchase
from engine.sales.read_models import Offer, OfferDetail, PurchasedLead


def browse_catalogue(caller: Principal, query: CatalogueQuery) -> Page[Offer]:
    """The offers the caller's agency may buy now, anonymised; from the replica when there is
    one (a lead sold a moment ago may still show: buying it answers 409)."""
    agency_id = caller.agency()
    return read_lagging(lambda session: catalogue(session, agency_id, query))


@retried
def offer_in_catalogue(
    caller: Principal, lead_id: uuid.UUID, query: CatalogueQuery
) -> Offer | None:
    """One lead as the caller's catalogue shows it with these filters, or None when it does not
    show (any more): what the live inbox sends when it hears the offer changed. On the primary:
    the change it heard of was just committed there."""
    with unit_of_work() as session:
        return in_catalogue(session, caller.agency(), lead_id, query)


def read_offer(caller: Principal, lead_id: uuid.UUID) -> OfferDetail:
    """One offer, as the catalogue shows it (from the replica when there is one)."""
    agency_id = caller.agency()
    return read_lagging(lambda session: offer_for(session, agency_id, lead_id))


@retried
def buy_lead(caller: Principal, request: PurchaseRequest) -> PurchaseAnswer:
    """Owner or buyer: one transaction that checks, takes and records, or refuses. One round
    trip: the database function is its own transaction (autocommit), no session needed."""
    with get_engine().connect() as connection:
        return buy(connection.execution_options(isolation_level="AUTOCOMMIT"), caller, request)


@retried
async def buy_lead_on(
    database: AsyncDatabase, caller: Principal, request: PurchaseRequest
) -> PurchaseAnswer:
    """`buy_lead` on the event loop: the same call on the application's async connections, no
    worker thread (a caller a key names, as this process verified it: `recalled_caller`)."""
    async with database.connection() as connection:
        return await buy_on(connection, caller, request)


@retried
def purchased_leads(caller: Principal, limit: int, cursor: str | None) -> Page[PurchasedLead]:
    with unit_of_work() as session:
        return list_purchases(session, caller.agency(), limit, cursor)


@retried
def read_purchased_lead(caller: Principal, purchase_id: uuid.UUID) -> PurchasedLead:
    with unit_of_work() as session:
        return get_purchase(session, caller.agency(), purchase_id)


@retried
def work_purchased_lead(
    caller: Principal, purchase_id: uuid.UUID, pipeline_status: str | None, notes: str | None
) -> PurchasedLead:
    """Owner or buyer: the lead's place in the agency's pipeline, and its notes."""
    with unit_of_work() as session:
        return update_purchase(session, caller, purchase_id, pipeline_status, notes)


@retried
def export_purchases(caller: Principal, layout: str = "crm") -> list[PurchasedLead]:
    """Every purchased lead of the agency, oldest first, for an export (audited: contacts leave
    Mandat) in `layout`: `crm` (machine-readable) or `excel` (as French Excel opens it)."""
    with unit_of_work() as session:
        return all_purchases(session, caller, layout)
