"""Homeowners' rights (PRODUCT §9): a private link to see, export and erase their data, and to
withdraw their consent for one agency.

The link carries a token: the lead id and an expiry, signed with HMAC-SHA256 (MANDAT_SECRET_KEY).
It is sent once, in the confirmation e-mail of step 2; nothing else can open the homeowner's data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.audit import record
from engine.config import public_url, secret_key
from engine.errors import Forbidden, NotFound
from engine.intake.reference import reference_of
from engine.notify.outbox import enqueue, enqueue_homeowner_mail
from engine.privacy.erasure import anonymise, same_person
from engine.settings import read_settings

TOKEN_DAYS = 365


class InvalidToken(Forbidden):
    code = "invalid_token"


def make_token(lead_id: uuid.UUID, days: int = TOKEN_DAYS) -> str:
    payload = f"{lead_id}.{int(time.time()) + days * 86_400}"
    mac = hmac.new(secret_key(), b"homeowner:" + payload.encode(), hashlib.sha256).digest()
    raw = payload.encode() + b"." + base64.urlsafe_b64encode(mac[:24])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_token(token: str) -> uuid.UUID:
    """The lead a valid, unexpired token opens; InvalidToken (a 401) otherwise."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        lead, expires, signature = raw.split(".")
        payload = f"{lead}.{expires}"
        mac = hmac.new(secret_key(), b"homeowner:" + payload.encode(), hashlib.sha256).digest()
        good = hmac.compare_digest(base64.urlsafe_b64encode(mac[:24]), signature.encode())
        if not good or int(expires) < time.time():
            raise ValueError("expired or forged")
        return uuid.UUID(lead)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidToken("This link is not valid or has expired.") from error


def send_confirmation(session: Session, lead_id: uuid.UUID) -> None:
    """Step 2's confirmation: the reference, the estimate, who may call and when, the private
    link to the homeowner's page, and the privacy policy."""
    row = session.execute(
        text("""
            SELECT l.first_name, l.email, e.estimate,
                   (SELECT string_agg(agency_name, ', ' ORDER BY rank) FROM lead_consent
                    WHERE lead_id = l.id) AS agencies,
                   (SELECT count(*) FROM lead_consent WHERE lead_id = l.id) AS consented
            FROM lead l JOIN estimation e ON e.id = l.estimation_id WHERE l.id = :id
        """),
        {"id": lead_id},
    ).one()
    settings = read_settings(session)
    site = public_url()
    link = f"{site}/me?token={make_token(lead_id)}"
    body = "\n".join(
        [
            f"Bonjour {row.first_name},",
            "",
            "Nous avons bien reçu votre demande d'estimation.",
            f"Référence de votre demande : {reference_of(lead_id)}",
            "",
            _estimate_line(row.estimate),
            "",
            f"Seules les agences que vous avez choisies pourront vous contacter : {row.agencies}.",
            _when_to_expect_a_call(settings, row.consented),
            "",
            "Pour consulter, exporter ou effacer vos données, ou retirer votre accord pour une "
            f"agence, utilisez ce lien personnel (ne le partagez pas) : {link}",
            "",
            f"Politique de confidentialité : {site}/privacy",
            f"Mentions légales : {site}/legal",
            "",
            "— Mandat",
        ]
    )
    enqueue_homeowner_mail(
        session, row.email, f"{lead_id}:confirmation", "Votre demande d'estimation", body
    )


def _estimate_line(estimate: dict[str, Any]) -> str:
    if not estimate.get("available"):
        return "Estimation : pas assez de ventes comparables pour estimer votre bien en ligne."
    low, mid, high = (_euros(estimate[k]) for k in ("low_eur", "mid_eur", "high_eur"))
    synthetic = " (données de démonstration)" if estimate.get("synthetic") else ""
    return f"Estimation : {mid}, entre {low} et {high}{synthetic}."


def _when_to_expect_a_call(settings: dict[str, Any], consented: int) -> str:
    """The selling rule in the homeowner's words, from the live settings (PRODUCT §5)."""
    window, cap = settings["exclusive_window_hours"], min(settings["shared_cap"], consented)
    return (
        "Quand attendre un appel : la première agence qui achète votre demande l'a pour elle "
        f"seule pendant {window} heures ; attendez son appel dans ce délai. Sinon, jusqu'à {cap} "
        f"agences pourront vous appeler au cours des {settings['offer_days']} jours suivants. "
        "Les agences paient Mandat pour recevoir vos coordonnées."
    )


def _euros(whole: int) -> str:
    return f"{int(whole):,}".replace(",", "\u202f") + "\u00a0€"


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


def export(
    session: Session, lead_id: uuid.UUID, audited_as: str = "homeowner.exported"
) -> dict[str, Any]:
    """Everything Mandat holds about this homeowner, as JSON (`audited_as`: exported, or only
    seen on their page)."""
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
    return {
        "reference": reference_of(lead_id),
        "contact": {
            "first_name": lead["first_name"],
            "last_name": lead["last_name"],
            "email": lead["email"],
            "phone": lead["phone_e164"],
        },
        "project": {"timeline": lead["timeline"], "is_owner": lead["is_owner"]},
        "property": lead["property"],
        "address": {
            "street": lead["street"],
            "postal_code": lead["postal_code"],
            "city": lead["commune"],
        },
        "estimate": lead["estimate"],
        "requested_at": lead["estimated_at"],
        "named_agencies": [
            {"agency_name": c["name"], "rank": c["rank"], "distance_m": c["distance_m"]}
            for c in lead["candidates"] or []
        ],
        "consent": {
            "text_version": lead["consent_text_version"],
            "text": lead["consent_text"],
            "given_at": lead["consented_at"],
            "embedding_origin": lead["consent_origin"],
            "agencies": [dict(c) for c in consents],
        },
        "bought_by": [dict(p) for p in purchases],
    }


def erase(session: Session, lead_id: uuid.UUID) -> dict[str, Any]:
    """Anonymise the homeowner's data (`engine.privacy.erasure`), and that of the other leads of
    the same person (same phone or e-mail): contact and street gone, the point moved to the
    commune's town hall, the leads withdrawn from sale. Invoices keep their lines (commune and
    date only). Agencies that bought any of them are told to erase their copy."""
    leads = same_person(session, lead_id)
    if lead_id not in leads:
        raise NotFound("These data were erased already.", code="erased")
    anonymise(session, leads, "erasure")
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
    return {"erased": True, "agencies_notified": len(buyers)}


def withdraw_consent(session: Session, lead_id: uuid.UUID, agency_id: uuid.UUID) -> dict[str, Any]:
    """This agency may no longer buy or use the lead; if it bought it, it is told."""
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
    return {"agency_id": agency_id, "withdrawn_at": row.withdrawn_at}
