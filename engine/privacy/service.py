"""Homeowners' rights (docs/rules.md §9): a private link to see, export and erase their data, and to
withdraw their consent for one agency; and the confirmation e-mail's two action links.

Every link carries a token made for one purpose only (`data`, `confirm`, `not_me`): the lead id,
the lead's token generation and an expiry, signed with that purpose's sub-key of
MANDAT_SECRET_KEY and the signing key's id (`engine.keyring`). The data link lasts a year; the
"c'est bien moi" / "ce n'était pas moi" links a week. Bumping the lead's generation (on erasure,
or when the homeowner asks for a new link) revokes every link sent before. They are sent in the
confirmation e-mail of step 2; nothing else can open the homeowner's data.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine import keyring
from engine.audit import record
from engine.config import public_url
from engine.errors import Forbidden, NotFound
from engine.intake.reference import reference_of
from engine.notify.outbox import enqueue, enqueue_homeowner_mail
from engine.privacy.erasure import anonymise, lock_offers, same_person
from engine.settings import read_settings

Purpose = Literal["data", "confirm", "not_me"]
# How long each link opens what it opens.
TOKEN_DAYS: dict[str, int] = {"data": 365, "confirm": 7, "not_me": 7}


class InvalidToken(Forbidden):
    code = "invalid_token"


@dataclass(frozen=True)
class Link:
    """What a valid token names: the lead, and the generation of links it belongs to."""

    lead_id: uuid.UUID
    generation: int


def make_token(
    lead_id: uuid.UUID, purpose: Purpose = "data", *, days: int | None = None, generation: int = 0
) -> str:
    expires = int(time.time()) + (TOKEN_DAYS[purpose] if days is None else days) * 86_400
    payload = f"{purpose}.{lead_id}.{generation}.{expires}"
    signed = f"{payload}.{keyring.sign(f'homeowner:{purpose}', payload)}"
    return base64.urlsafe_b64encode(signed.encode()).decode().rstrip("=")


def read_token(token: str, purpose: Purpose) -> Link:
    """The lead a valid, unexpired token made for this purpose opens; InvalidToken (a 403)
    otherwise. Whether its generation is still the lead's is `opened`'s to check."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        made_for, lead, generation, expires, kid, tag = raw.split(".")
        payload = f"{made_for}.{lead}.{generation}.{expires}"
        if made_for != purpose or not keyring.verify(
            f"homeowner:{purpose}", payload, f"{kid}.{tag}"
        ):
            raise ValueError("forged, or made for another purpose")
        if int(expires) < time.time():
            raise ValueError("expired")
        return Link(uuid.UUID(lead), int(generation))
    except (ValueError, UnicodeDecodeError, binascii.Error) as error:
        raise InvalidToken("This link is not valid or has expired.") from error


_OPENED = text("""
    SELECT id, token_generation, erased_at, contact_confirmed_at, disowned_at, status
    FROM lead WHERE id = :id FOR UPDATE
""")


def opened(session: Session, link: Link) -> Any:
    """The lead a link opens, locked: NotFound `erased` once erased, InvalidToken when the link
    was revoked (an older generation) or names no lead."""
    lead = session.execute(_OPENED, {"id": link.lead_id}).one_or_none()
    if lead is None:
        raise InvalidToken("This link is not valid or has expired.")
    if lead.erased_at is not None:
        raise NotFound("These data were erased.", code="erased")
    if lead.token_generation != link.generation:
        raise InvalidToken("This link was replaced by a newer one.")
    return lead


def revoke_links(session: Session, lead_id: uuid.UUID) -> int:
    """Every link sent before stops working; the new generation."""
    return int(
        session.execute(
            text("""
                UPDATE lead SET token_generation = token_generation + 1
                WHERE id = :id RETURNING token_generation
            """),
            {"id": lead_id},
        ).scalar_one()
    )


def links(lead_id: uuid.UUID, generation: int) -> dict[str, str]:
    """The homeowner's three links: the private data link and the two action links."""
    base = public_url()
    paths: dict[Purpose, str] = {
        "data": "/me",
        "confirm": "/me/confirm",
        "not_me": "/me/not-me",
    }
    return {
        purpose: f"{base}{path}?token={make_token(lead_id, purpose, generation=generation)}"
        for purpose, path in paths.items()
    }


def send_confirmation(session: Session, lead_id: uuid.UUID, renewed: bool = False) -> None:
    """Step 2's confirmation: the reference, the estimate, is it you, who may call and when, the
    private link to the homeowner's page and the privacy policy; or, `renewed`, the same links
    made anew after the homeowner revoked the old ones. Nothing the person typed is in it (their
    name could be anyone's words, sent from our domain): plain text, our own wording only."""
    row = session.execute(
        text("""
            SELECT l.token_generation, l.email, e.estimate,
                   (SELECT string_agg(agency_name, ', ' ORDER BY rank) FROM lead_consent
                    WHERE lead_id = l.id) AS agencies,
                   (SELECT count(*) FROM lead_consent WHERE lead_id = l.id) AS consented
            FROM lead l JOIN estimation e ON e.id = l.estimation_id WHERE l.id = :id
        """),
        {"id": lead_id},
    ).one()
    settings = read_settings(session)
    site = public_url()
    link = links(lead_id, row.token_generation)
    opening = (
        "Voici vos nouveaux liens : ceux que nous vous avions envoyés ne fonctionnent plus."
        if renewed
        else "Nous avons bien reçu la demande d'estimation faite avec votre adresse e-mail."
    )
    body = "\n".join(
        [
            "Bonjour,",
            "",
            opening,
            f"Référence de votre demande : {reference_of(lead_id)}",
            "",
            _estimate_line(row.estimate),
            "",
            f"C'est bien vous ? Confirmez-le ici : {link['confirm']}",
            f"Ce n'était pas vous ? Dites-le ici, la demande sera retirée : {link['not_me']}",
            f"(Ces deux liens sont valables {TOKEN_DAYS['confirm']} jours.)",
            "",
            f"Seules les agences que vous avez choisies pourront vous contacter : {row.agencies}.",
            _when_to_expect_a_call(settings, row.consented),
            "",
            "Pour consulter, exporter ou effacer vos données, ou retirer votre accord pour une "
            f"agence, utilisez ce lien personnel (ne le partagez pas) : {link['data']}",
            "",
            f"Politique de confidentialité : {site}/privacy",
            f"Mentions légales : {site}/legal",
            "",
            "— Mandat",
        ]
    )
    key = f"{lead_id}:links:{row.token_generation}" if renewed else f"{lead_id}:confirmation"
    subject = "Vos nouveaux liens Mandat" if renewed else "Votre demande d'estimation"
    enqueue_homeowner_mail(session, row.email, key, subject, body)


def renew_links(session: Session, lead_id: uuid.UUID) -> dict[str, Any]:
    """The homeowner's request: every link sent so far stops working, new ones are mailed to
    their address (never shown here: a leaked link can end the links, not obtain new ones)."""
    revoke_links(session, lead_id)
    send_confirmation(session, lead_id, renewed=True)
    record(session, None, "homeowner.links_renewed", "lead", lead_id)
    return {"renewed": True}


def _estimate_line(estimate: dict[str, Any]) -> str:
    if not estimate.get("available"):
        return "Estimation : pas assez de ventes comparables pour estimer votre bien en ligne."
    low, mid, high = (_euros(estimate[k]) for k in ("low_eur", "mid_eur", "high_eur"))
    synthetic = " (données de démonstration)" if estimate.get("synthetic") else ""
    return f"Estimation : {mid}, entre {low} et {high}{synthetic}."


def _when_to_expect_a_call(settings: dict[str, Any], consented: int) -> str:
    """The selling rule in the homeowner's words, from the live settings (docs/rules.md §5)."""
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
    return {"erased": True, "agencies_notified": len(buyers)}


def withdraw_consent(session: Session, lead_id: uuid.UUID, agency_id: uuid.UUID) -> dict[str, Any]:
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
    return {"agency_id": agency_id, "withdrawn_at": row.withdrawn_at}
