"""What Mandat's e-mails to agencies say: for each event, its own subject, the facts that matter
(the commune by its name and postal code, the amount, the date) and a link to the page of
Espace Pro where the reader acts, as a plain-text body and the same words as HTML.

Nothing the homeowner typed is ever written here: the contact's name, e-mail and phone stay in
Espace Pro. Every value placed in the HTML body is escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.config import public_url
from engine.money import format_euros
from engine.notify.letters import Letter
from engine.notify.places import Place

PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class _Facts:
    """What any agency letter may say: whom it greets, where the lead is, the links, the price."""

    greeting: str
    where: str
    pro: str
    contact: str
    price: str
    payload: Mapping[str, Any]


def agency_letter(
    event: str, agency: str, payload: Mapping[str, Any], place: Place | None
) -> Letter:
    """The e-mail an agency receives for an outbox event."""
    pro = f"{public_url()}/pro"
    facts = _Facts(
        greeting=f"Bonjour {agency},",
        where=str(place) if place else "votre zone",
        pro=pro,
        contact=f"{pro}/contacts/{payload.get('purchase_id')}",
        price=f"{format_euros(int(payload.get('price_cents') or 0))} HT",
        payload=payload,
    )
    write = _LETTERS.get(event)
    if write is None:
        return Letter(
            f"Mandat : {event}",
            facts.greeting,
            ("Un événement concerne votre agence.",),
            ("Ouvrir", pro),
        )
    return write(facts)


def _offer_letter(facts: _Facts) -> Letter:
    payload, where = facts.payload, facts.where
    exclusive = payload.get("mode") == "exclusive"
    offer = (
        f"Il vous est proposé en exclusivité pour {facts.price}"
        if exclusive
        else f"Il est proposé en partagé pour {facts.price}" + _slots(payload.get("slots_left"))
    )
    until = _when(payload.get("offer_ends_at"))
    return Letter(
        f"Nouveau contact vendeur à {where}"
        if exclusive
        else f"Contact vendeur à {where} : désormais en partagé",
        facts.greeting,
        (
            f"Un propriétaire à {where} souhaite faire estimer son bien en vue de le vendre "
            "et a accepté d'être contacté par votre agence.",
            f"{offer} (qualité {payload.get('grade')})"
            + (f", jusqu'au {until}." if until else "."),
        ),
        ("Voir le contact et l'acheter", f"{facts.pro}/leads"),
    )


def _purchase_letter(facts: _Facts) -> Letter:
    mode = "en exclusivité" if facts.payload.get("mode") == "exclusive" else "en partagé"
    return Letter(
        f"Achat confirmé : contact vendeur à {facts.where}",
        facts.greeting,
        (
            f"Votre achat du contact vendeur à {facts.where} ({mode}, {facts.price}) est confirmé.",
            "Appelez le propriétaire rapidement : ses coordonnées, le bien et l'estimation "
            "sont sur la fiche du contact.",
        ),
        ("Ouvrir la fiche du contact", facts.contact),
    )


def _refund_letter(facts: _Facts) -> Letter:
    payload, where = facts.payload, facts.where
    note = payload.get("note")
    lines: tuple[str, ...]
    if payload.get("status") == "approved":
        amount = format_euros(int(payload.get("amount_cents") or 0))
        lines = (
            f"Votre demande de remboursement du contact à {where} est acceptée : {amount} HT "
            "vous sont crédités, déduits de votre prochaine facture ou, si le contact est déjà "
            "facturé, par un avoir.",
        )
        subject = f"Remboursement accepté : contact à {where}"
    else:
        lines = (f"Votre demande de remboursement du contact à {where} est refusée.",)
        subject = f"Remboursement refusé : contact à {where}"
    if note:
        lines += (f"Motif : {note}",)
    return Letter(subject, facts.greeting, lines, ("Voir la fiche du contact", facts.contact))


def _consent_withdrawn_letter(facts: _Facts) -> Letter:
    return Letter(
        f"Ne plus contacter : le propriétaire à {facts.where} a retiré son consentement",
        facts.greeting,
        (
            f"Le propriétaire du contact acheté à {facts.where} a retiré son consentement. "
            "Ne le contactez plus ; ses coordonnées ne sont plus affichées.",
        ),
        ("Voir la fiche du contact", facts.contact),
    )


def _erased_letter(facts: _Facts) -> Letter:
    return Letter(
        f"Données effacées : contact vendeur à {facts.where}",
        facts.greeting,
        (
            f"Le propriétaire du contact acheté à {facts.where} a demandé l'effacement de ses "
            "données. Effacez-les aussi de vos propres outils et ne le contactez plus.",
        ),
        ("Voir la fiche du contact", facts.contact),
    )


def _disowned_letter(facts: _Facts) -> Letter:
    return Letter(
        f"Contact retiré à {facts.where} : le propriétaire n'a pas fait cette demande",
        facts.greeting,
        (
            f"La personne dont l'adresse e-mail figure sur le contact acheté à {facts.where} dit "
            "ne pas avoir fait cette demande d'estimation. Ne contactez pas cette personne.",
            "Le contact est retiré et votre achat vous est remboursé intégralement.",
        ),
        ("Voir la fiche du contact", facts.contact),
    )


def _einvoice_letter(facts: _Facts) -> Letter:
    payload = facts.payload
    credit = payload.get("document") == "credit_note"
    kind = "L'avoir" if credit else "La facture"
    total = format_euros(int(payload.get("total_ttc_cents") or 0))
    return Letter(
        payload.get("subject")
        or f"Mandat — {'Avoir' if credit else 'Facture'} {payload.get('number')}",
        facts.greeting,
        (
            f"{kind} {payload.get('number')} ({total} TTC) est jointe à ce message, au "
            "format Factur-X (PDF/A-3 contenant la facture électronique XML, profil "
            "EN 16931).",
        ),
        ("Ouvrir votre Espace Pro", f"{facts.pro}/"),
    )


def _payment_failed_letter(facts: _Facts) -> Letter:
    payload = facts.payload
    return Letter(
        f"Paiement refusé : facture {payload.get('number')}",
        facts.greeting,
        (
            f"Le prélèvement de la facture {payload.get('number')} n'a pas abouti"
            + (f" ({payload['reason']})." if payload.get("reason") else "."),
            "Mettez à jour votre moyen de paiement pour éviter la suspension de vos achats.",
        ),
        ("Ouvrir votre Espace Pro", f"{facts.pro}/"),
    )


def _payment_reminder_letter(facts: _Facts) -> Letter:
    payload = facts.payload
    days = int(payload.get("suspension_in_days") or 0)
    amount = format_euros(int(payload.get("amount_cents") or 0))
    return Letter(
        f"Rappel : facture {payload.get('number')} impayée",
        facts.greeting,
        (
            f"La facture {payload.get('number')} ({amount} TTC) n'est toujours pas réglée.",
            f"Sans paiement, vos achats seront suspendus dans {days} jour{'s' * (days > 1)}."
            if days
            else "Sans paiement, vos achats seront suspendus.",
        ),
        ("Ouvrir votre Espace Pro", f"{facts.pro}/"),
    )


def _suspended_letter(facts: _Facts) -> Letter:
    return Letter(
        "Achats suspendus : facture impayée",
        facts.greeting,
        (
            f"La facture {facts.payload.get('number')} n'est pas réglée : les achats de votre "
            "agence sont suspendus jusqu'au paiement. Vos contacts achetés restent "
            "accessibles.",
        ),
        ("Ouvrir votre Espace Pro", f"{facts.pro}/"),
    )


# Each outbox event an agency is told of, and the letter that tells it.
_LETTERS: dict[str, Callable[[_Facts], Letter]] = {
    "lead.offered": _offer_letter,
    "lead.shared": _offer_letter,
    "purchase.created": _purchase_letter,
    "refund.decided": _refund_letter,
    "consent.withdrawn": _consent_withdrawn_letter,
    "lead.erased": _erased_letter,
    "lead.disowned": _disowned_letter,
    "einvoice.issued": _einvoice_letter,
    "invoice.payment_failed": _payment_failed_letter,
    "invoice.payment_reminder": _payment_reminder_letter,
    "agency.suspended": _suspended_letter,
}


def _slots(left: object) -> str:
    if not left:
        return ""
    n = int(str(left))
    return f" ({n} place{'s' * (n > 1)} restante{'s' * (n > 1)})"


def _when(value: object) -> str | None:
    """A payload's time (ISO text) as a French reader writes it, in Paris time."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    local = moment.astimezone(PARIS)
    return local.strftime("%d/%m/%Y à %Hh%M")
