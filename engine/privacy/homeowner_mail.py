"""The homeowner's e-mail of step 2 (docs/rules.md §9): the reference, the estimate, the two
action links, who may call and when, and the private link; the same links made anew on request.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.audit import record
from engine.config import public_url
from engine.intake.reference import reference_of
from engine.money import format_whole_euros
from engine.notify.outbox import enqueue_homeowner_mail
from engine.privacy.links import TOKEN_DAYS, links, revoke_links
from engine.privacy.read_models import LinksRenewed
from engine.settings import read_settings


def send_confirmation(
    session: Session,
    lead_id: uuid.UUID,
    renewed: bool = False,
    settings: dict[str, Any] | None = None,
) -> None:
    """Step 2's confirmation: the reference, the estimate, is it you, who may call and when, the
    private link to the homeowner's page and the privacy policy; or, `renewed`, the same links
    made anew after the homeowner revoked the old ones. Nothing the person typed is in it (their
    name could be anyone's words, sent from our domain): plain text, our own wording only.
    `settings`: those in force, when the caller has already read them in this transaction."""
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
    settings = settings if settings is not None else read_settings(session)
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


def renew_links(session: Session, lead_id: uuid.UUID) -> LinksRenewed:
    """The homeowner's request: every link sent so far stops working, new ones are mailed to
    their address (never shown here: a leaked link can end the links, not obtain new ones)."""
    revoke_links(session, lead_id)
    send_confirmation(session, lead_id, renewed=True)
    record(session, None, "homeowner.links_renewed", "lead", lead_id)
    return LinksRenewed()


def _estimate_line(estimate: dict[str, Any]) -> str:
    if not estimate.get("available"):
        return "Estimation : pas assez de ventes comparables pour estimer votre bien en ligne."
    low, mid, high = (format_whole_euros(estimate[k]) for k in ("low_eur", "mid_eur", "high_eur"))
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
