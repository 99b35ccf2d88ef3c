"""The purchases export as French Excel reads a CSV (issue 13): UTF-8 with a byte-order mark
(without it Excel reads Windows-1252 and garbles every accent), semicolons (the comma is the
decimal separator), French column names and values, dates as dd/mm/yyyy hh:mm in Paris time,
amounts with a decimal comma, phone numbers in the national format (a leading "+" would be
read as a formula). The machine-readable export (`purchases.csv` without `format`) is unchanged:
programs rely on its columns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import phonenumbers

from engine.sales.read_models import PurchasedLead

BOM = "\ufeff"
PARIS = ZoneInfo("Europe/Paris")

HEADERS = [
    "Référence de l'achat",
    "Acheté le",
    "Mode",
    "Prix (€ HT)",
    "Étape",
    "Prénom",
    "Nom",
    "E-mail",
    "Téléphone",
    "Adresse",
    "Code postal",
    "Commune",
    "Type de bien",
    "Surface (m²)",
    "Pièces",
    "Estimation (€)",
    "Projet de vente",
    "Propriétaire",
    "Qualité",
    "Notes",
    "Ne plus contacter",
]
MODES = {"exclusive": "Exclusif", "shared": "Partagé"}
STAGES = {
    "new": "Nouveau",
    "contacted": "Contacté",
    "appointment": "Rendez-vous",
    "mandate_signed": "Mandat signé",
    "lost": "Perdu",
}
TYPES = {"appartement": "Appartement", "maison": "Maison", "terrain": "Terrain", "autre": "Autre"}
TIMELINES = {
    "asap": "Dès que possible",
    "lt_3_months": "Dans moins de 3 mois",
    "3_6_months": "Dans 3 à 6 mois",
    "gt_6_months": "Dans plus de 6 mois",
    "curious": "Se renseigne",
}
DO_NOT_CONTACT = {
    "consent_withdrawn": "Ne plus contacter : consentement retiré",
    "erased": "Ne plus contacter : données effacées",
    "disowned": "Ne plus contacter : la personne n'a pas fait cette demande",
    "refunded": "Ne plus contacter : achat remboursé en totalité",
}


def decimal_comma(value: object) -> str:
    """12.5 → "12,5"; nothing stays empty."""
    return "" if value is None or value == "" else str(value).replace(".", ",")


def french_phone(e164: str | None) -> str:
    """+33612345678 → "06 12 34 56 78"; another country's number starts with 00, as dialled
    from France."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, "FR")
    except phonenumbers.NumberParseException:
        return e164.replace("+", "00", 1)
    if number.country_code == 33:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return "00" + phonenumbers.format_number(number, international).lstrip("+")


def paris_time(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")


def row_cells(
    purchase: PurchasedLead, price_eur: str, safe: Callable[[str | None], str]
) -> list[str]:
    """One purchase as the French columns of `HEADERS`; `safe` defuses formulas in free text."""
    contact, address, facts = purchase.contact, purchase.address, purchase.property
    return [
        str(purchase.id),
        paris_time(purchase.purchased_at),
        MODES.get(purchase.mode, purchase.mode),
        decimal_comma(price_eur),
        STAGES.get(purchase.pipeline_status, purchase.pipeline_status),
        *(safe(v) for v in (contact.first_name, contact.last_name, contact.email)),
        french_phone(contact.phone),
        safe(address.street or ""),
        address.postal_code,
        address.city,
        TYPES.get(facts.get("type"), facts.get("type") or ""),
        decimal_comma(facts.get("surface_m2")),
        str(facts.get("rooms") if facts.get("rooms") is not None else ""),
        str(purchase.estimate.get("mid_eur") or ""),
        TIMELINES.get(purchase.project.timeline, purchase.project.timeline or ""),
        "Oui" if purchase.project.is_owner else "Non",
        purchase.grade or "",
        safe(purchase.notes),
        DO_NOT_CONTACT.get(purchase.do_not_contact or "", ""),
    ]
