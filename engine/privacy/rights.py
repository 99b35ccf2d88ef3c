"""Homeowners' rights (docs/rules.md §9), through their private link: export their data, erase
it, withdraw their consent for one agency."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.audit import record
from engine.errors import NotFound
from engine.intake.reference import reference_of
from engine.notify.outbox import enqueue
from engine.privacy.erasure import anonymise, lock_offers, same_person
from engine.privacy.links import revoke_links
from engine.privacy.read_models import (
    Buyer,
    Consent,
    ConsentedAgency,
    ConsentWithdrawn,
    Erased,
    HomeAddress,
    MyData,
    NamedAgency,
)
from engine.sales.read_models import Contact, Project

_LEAD = text("""
    SELECT l.id, l.created_at, l.first_name, l.last_name, l.email, l.phone_e164, l.timeline,
           l.is_owner, l.consent_text_version, l.consented_at, l.consent_origin, l.erased_at,
           t.body AS consent_text, e.property, e.postal_code, e.street, c.name AS commune,
           e.estimate, e.candidates, e.created_at AS estimated_at
    FROM lead l
    JOIN estimation e ON e.id = l.estimation_id
    JOIN commune c ON c.code = e.commune_code
    JOIN consent_text t ON t.version = l.consent_text_version
    WHERE l.id = :id
""")


def export(session: Session, lead_id: uuid.UUID, audited_as: str = "homeowner.exported") -> MyData:
    """Everything Mandat holds about this homeowner (`audited_as`: exported, or only seen on
    their page)."""
    lead = session.execute(_LEAD, {"id": lead_id}).mappings().one_or_none()
    if lead is None or lead["erased_at"] is not None:
        raise NotFound("These data were erased.", code="erased")
    consents = (
        session.execute(
            text("""
            SELECT agency_id, agency_name, rank, ticked_via, withdrawn_at FROM lead_consent
            WHERE lead_id = :id ORDER BY rank
        """),
            {"id": lead_id},
        )
        .mappings()
        .all()
    )
    purchases = (
        session.execute(
            text("""
            SELECT a.name AS agency, p.created_at AS bought_at, p.mode FROM purchase p
            JOIN agency a ON a.id = p.agency_id WHERE p.lead_id = :id ORDER BY p.created_at
        """),
            {"id": lead_id},
        )
        .mappings()
        .all()
    )
    record(session, None, audited_as, "lead", lead_id)
    return MyData(
        reference=reference_of(lead_id),
        contact=Contact(lead["first_name"], lead["last_name"], lead["email"], lead["phone_e164"]),
        project=Project(timeline=lead["timeline"], is_owner=lead["is_owner"]),
        property=lead["property"],
        address=HomeAddress(lead["street"], lead["postal_code"], lead["commune"]),
        estimate=lead["estimate"],
        requested_at=lead["estimated_at"],
        named_agencies=[
            NamedAgency(agency_name=c["name"], rank=c["rank"], distance_m=c["distance_m"])
            for c in lead["candidates"] or []
        ],
        consent=Consent(
            text_version=lead["consent_text_version"],
            text=lead["consent_text"],
            given_at=lead["consented_at"],
            embedding_origin=lead["consent_origin"],
            agencies=[ConsentedAgency(**c) for c in consents],
        ),
        bought_by=[Buyer(**p) for p in purchases],
    )


def erase(session: Session, lead_id: uuid.UUID) -> Erased:
    """Anonymise the homeowner's data (`engine.privacy.erasure`), and that of the other leads of
    the same person (same phone or e-mail): contact and street gone, the point moved to the
    commune's town hall, the leads withdrawn from sale. Invoices keep their lines (commune and
    date only). Agencies that bought any of them are told to erase their copy."""
    leads = same_person(session, lead_id)
    if lead_id not in leads:
        raise NotFound("These data were erased already.", code="erased")
    anonymise(session, leads, "erasure")
    for lead in leads:
        revoke_links(session, lead)
    buyers = session.execute(
        text("SELECT agency_id, id, lead_id FROM purchase WHERE lead_id = ANY(:ids)"),
        {"ids": leads},
    ).all()
    for agency_id, purchase_id, bought_lead in buyers:
        enqueue(
            session,
            [agency_id],
            "lead.erased",
            str(purchase_id),
            {
                "purchase_id": purchase_id,
                "lead_id": bought_lead,
                "action": "The homeowner erased their data: erase your copy of this contact.",
            },
        )
    record(
        session,
        None,
        "homeowner.erased",
        "lead",
        lead_id,
        notified_agencies=len(buyers),
        same_person_leads=len(leads) - 1,
    )
    return Erased(agencies_notified=len(buyers))


def withdraw_consent(
    session: Session, lead_id: uuid.UUID, agency_id: uuid.UUID
) -> ConsentWithdrawn:
    """This agency may no longer buy or use the lead; if it bought it, it is told."""
    lock_offers(session, [lead_id])  # a purchase in flight commits first, or sees the withdrawal
    row = session.execute(
        text("""
            UPDATE lead_consent SET withdrawn_at = coalesce(withdrawn_at, clock_timestamp())
            WHERE lead_id = :lead AND agency_id = :agency
            RETURNING withdrawn_at
        """),
        {"lead": lead_id, "agency": agency_id},
    ).one_or_none()
    if row is None:
        raise NotFound("This agency was not among those you agreed to.", code="consent_not_found")
    purchase = session.execute(
        text("SELECT id FROM purchase WHERE lead_id = :lead AND agency_id = :agency"),
        {"lead": lead_id, "agency": agency_id},
    ).scalar_one_or_none()
    if purchase is not None:
        # A replay of the purchase would hand the contact back: its stored answer goes, as on
        # erasure (a replay then answers 409 lead_unavailable).
        session.execute(
            text("""
                UPDATE idempotency_key SET response = NULL
                WHERE agency_id = :agency AND response->>'lead_id' = :lead
            """),
            {"agency": agency_id, "lead": str(lead_id)},
        )
        enqueue(
            session,
            [agency_id],
            "consent.withdrawn",
            str(purchase),
            {
                "purchase_id": purchase,
                "lead_id": lead_id,
                "action": "The homeowner withdrew their consent: do not contact them again.",
            },
        )
    record(session, None, "homeowner.consent_withdrawn", "lead", lead_id, agency_id=str(agency_id))
    return ConsentWithdrawn(agency_id=agency_id, withdrawn_at=row.withdrawn_at)
