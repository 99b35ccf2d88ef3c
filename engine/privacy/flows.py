"""The homeowner's rights through their links: the token is the only key. Each service reads the
token (made for its purpose only), then owns its unit of work, in which the lead is locked and the
link checked against the lead's current generation (a revoked link opens nothing)."""

from __future__ import annotations

import uuid

from engine.billing.refunding import refund_credit_note
from engine.db import retried, unit_of_work
from engine.privacy.confirmation import confirm, disown
from engine.privacy.homeowner_mail import renew_links
from engine.privacy.links import opened, read_token
from engine.privacy.read_models import (
    ConsentWithdrawn,
    ContactConfirmed,
    Disowned,
    Erased,
    LinksRenewed,
    MyData,
)
from engine.privacy.rights import erase, export, withdraw_consent


@retried
def export_my_data(token: str) -> MyData:
    """Everything held about the homeowner (audited)."""
    link = read_token(token, "data")
    with unit_of_work() as session:
        return export(session, opened(session, link).id)


@retried
def see_my_data(token: str) -> MyData:
    """The same data, shown on the homeowner's page (audited as seen, not as exported)."""
    link = read_token(token, "data")
    with unit_of_work() as session:
        return export(session, opened(session, link).id, audited_as="homeowner.viewed")


@retried
def erase_my_data(token: str) -> Erased:
    """Personal fields anonymised, the lead withdrawn from sale, buying agencies notified; every
    link sent to the homeowner stops working."""
    link = read_token(token, "data")
    with unit_of_work() as session:
        return erase(session, opened(session, link).id)


@retried
def withdraw_my_consent(token: str, agency_id: uuid.UUID) -> ConsentWithdrawn:
    """This agency may no longer buy or use the lead; if it bought it, it is told."""
    link = read_token(token, "data")
    with unit_of_work() as session:
        return withdraw_consent(session, opened(session, link).id, agency_id)


@retried
def renew_my_links(token: str) -> LinksRenewed:
    """Every link sent to the homeowner stops working; new ones go to their e-mail address."""
    link = read_token(token, "data")
    with unit_of_work() as session:
        return renew_links(session, opened(session, link).id)


@retried
def confirm_contact(token: str) -> ContactConfirmed:
    """ "C'est bien moi": the lead is *contact confirmed* (badge, grade). Clicking again changes
    nothing; after "not me", Conflict `contact_disowned`."""
    link = read_token(token, "confirm")
    with unit_of_work() as session:
        done = confirm(session, opened(session, link))
    return ContactConfirmed(confirmed_at=done.confirmed_at)


def disown_request(token: str) -> Disowned:
    """ "Ce n'était pas moi": the lead withdrawn at once, every buyer refunded in full (rule
    `auto:not_me`; a paid invoice's credit note is paid back through Stripe once committed)
    and told. Clicking again changes nothing; after a confirmation, Conflict
    `contact_confirmed`."""
    link = read_token(token, "not_me")
    with unit_of_work() as session:
        done = disown(session, opened(session, link))
    for outcome in done.refunds:
        if outcome.credit_note_id:
            refund_credit_note(outcome.credit_note_id)
    return Disowned(disowned_at=done.disowned_at, buyers_refunded=done.buyers_refunded)
