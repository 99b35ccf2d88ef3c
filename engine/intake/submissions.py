"""Submitting a lead: step 2 of the form, contact, project and consent make an estimation a lead
(docs/rules.md §4).

The lead is validated (a person must be told what to fix: lead_checks.py), qualified (score and
grade), checked for bot signals (quarantined, silently: bot_signals.py), and linked to an earlier
lead when it repeats one (duplicates.py). Whatever happens, the homeowner's answer is the same:
`received`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from dataclasses import field as default
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.intake.bot_signals import bot_signals
from engine.intake.duplicates import insert_lead
from engine.intake.lead_checks import validate_submission
from engine.intake.models import Lead, LeadConsent
from engine.intake.scoring import grade_for, score_lead
from engine.notify.outbox import enqueue
from engine.privacy.homeowner_mail import send_confirmation
from engine.sales.offers import open_offer
from engine.settings import read_settings


@dataclass
class LeadSubmission:
    first_name: str
    last_name: str
    email: str
    phone: str
    timeline: str
    is_owner: bool
    consent_agency_ids: list[uuid.UUID]
    consent_text_version: str
    honeypot: str | None  # the hidden `website` field: people leave it empty, bots fill it
    # How the person ticked each consented agency: "box" or "all" (the "all agencies" control).
    # An agency missing here is recorded as "declared": the client did not say how.
    consent_ticked_via: dict[uuid.UUID, str] = default(default_factory=dict)
    # The origin of the page embedding the form, as the form saw it.
    consent_origin: str | None = None


@dataclass(frozen=True)
class Client:
    """Who sent the request, as the bot checks count it."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class LeadReceipt:
    lead_id: uuid.UUID
    status: str = "received"  # the only public status: never tells a bot it was caught


_ESTIMATION = text("""
    SELECT e.id, e.commune_code, e.candidates, e.property, e.estimate,
           extract(epoch FROM clock_timestamp() - e.created_at) AS age_s,
           l.id AS lead_id
    FROM estimation e LEFT JOIN lead l ON l.estimation_id = e.id
    WHERE e.id = :id
    FOR UPDATE OF e
""")


def submit_lead(
    session: Session, estimation_id: uuid.UUID, submission: LeadSubmission, client: Client
) -> LeadReceipt:
    estimation = session.execute(_ESTIMATION, {"id": estimation_id}).mappings().one_or_none()
    if estimation is None:
        raise NotFound("No estimation has this id.", code="estimation_not_found")
    if estimation["lead_id"] is not None:
        # The same form sent twice (a double click, a retry): the first answer again.
        return LeadReceipt(estimation["lead_id"])

    settings = read_settings(session)
    contact, consented = validate_submission(session, submission, estimation["candidates"])
    score, reasons = score_lead(
        submission.timeline, submission.is_owner, contact["phone_type"], estimation["property"]
    )
    grade = grade_for(score, settings)
    quarantine = bot_signals(session, submission, client, contact["phone"], estimation, settings)

    lead = Lead(
        estimation_id=estimation_id,
        commune_code=estimation["commune_code"],
        first_name=contact["first_name"],
        last_name=contact["last_name"],
        email=contact["email"],
        phone_e164=contact["phone"],
        timeline=submission.timeline,
        is_owner=submission.is_owner,
        score=score,
        grade=grade,
        score_reasons=reasons,
        quarantine_reasons=quarantine,
        consent_text_version=submission.consent_text_version,
        consent_origin=contact["origin"],
        client_ip=client.ip,
        user_agent=(client.user_agent or "")[:500] or None,
        rules={
            key: settings[key]
            for key in (
                "bot_min_seconds",
                "max_leads_per_ip_per_hour",
                "max_leads_per_phone_per_day",
                "duplicate_window_days",
                "grade_a_min_score",
                "grade_b_min_score",
            )
        },
    )
    insert_lead(session, lead, timedelta(days=float(settings["duplicate_window_days"])))
    session.add_all(
        LeadConsent(
            lead_id=lead.id,
            agency_id=uuid.UUID(c["agency_id"]),
            rank=c["rank"],
            agency_name=c["name"],
            distance_m=c["distance_m"],
            reach=c["reach"],
            ticked_via=submission.consent_ticked_via.get(uuid.UUID(c["agency_id"]), "declared"),
        )
        for c in consented
    )
    session.flush()
    if lead.status != "quarantined":  # a bot's address is never mailed
        send_confirmation(session, lead.id, settings=settings)
    if lead.status == "qualified":
        offer = open_offer(
            session,
            lead.id,
            lead.created_at,
            estimation["estimate"].get("mid_eur"),
            grade,
            len(consented),
            settings,
        )
        enqueue(
            session,
            [uuid.UUID(c["agency_id"]) for c in consented],
            "lead.offered",
            f"{lead.id}:exclusive",
            {
                "lead_id": lead.id,
                "mode": "exclusive",
                "price_cents": offer.exclusive_price_cents,
                "offer_ends_at": offer.exclusive_until,
                "commune_code": lead.commune_code,
                "grade": grade,
            },
        )
    return LeadReceipt(lead.id)
