"""What an agency's profile may hold: its identity (name, SIRET, e-mail, phone), its webhook,
its budget and its e-invoicing address; each wrong field, an error at its path."""

from __future__ import annotations

import ipaddress
import os
import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from engine.agencies.models import Agency
from engine.contact.validation import normalise_email, phone_e164, siret_is_valid
from engine.errors import FieldError
from engine.notify.webhooks import is_public_address


def identity_change_errors(agency: Agency, changes: dict[str, Any]) -> list[FieldError]:
    if "name" not in changes and "email" not in changes and "phone" not in changes:
        return []
    return identity_errors(
        changes.get("name", agency.name),
        agency.siret,
        changes.get("email", agency.email),
        changes.get("phone", agency.phone),
    )


def account_change_errors(agency: Agency, changes: dict[str, Any]) -> list[FieldError]:
    """The webhook, budget and e-invoicing address changes that cannot be."""
    errors: list[FieldError] = []
    webhook_url = changes.get("webhook_url")
    if webhook_url is not None and not _webhook_url_ok(webhook_url):
        errors.append(
            FieldError(
                "webhook_url", "invalid_webhook_url", "A webhook URL is an https:// address."
            )
        )
    errors += budget_errors(changes.get("monthly_budget_cents"))
    errors += _einvoicing_address_errors(agency.siret[:9], changes.get("einvoicing_address"))
    return errors


def identity_errors(name: str, siret: str, email: str, phone: str | None) -> list[FieldError]:
    errors = []
    if not name or not name.strip() or len(name.strip()) > 200:
        errors.append(FieldError("name", "invalid_name", "A name has 1 to 200 characters."))
    elif not name_is_plain(name):
        errors.append(
            FieldError(
                "name",
                "name_not_plain",
                "A name holds no web address, e-mail address, phone number or control character.",
            )
        )
    if not siret_is_valid(siret):
        errors.append(
            FieldError("siret", "invalid_siret", "A SIRET has 14 digits and a valid check digit.")
        )
    if normalise_email(email or "") is None:
        errors.append(FieldError("email", "invalid_email", "This e-mail address is not valid."))
    if phone and phone_e164(phone) is None:
        errors.append(FieldError("phone", "invalid_phone", "This is not a French phone number."))
    return errors


# The name is shown to homeowners (the form, the confirmation e-mail): an owner must not turn it
# into a message sent from Mandat ("confirmez sur mandat-verif.fr", "rappelez le 06…": F16).
_URL_LIKE = re.compile(
    r"(?i)(://|\bwww\.|@|\b[a-z0-9-]{2,}\.(fr|com|net|org|eu|io|info|biz|immo|co)\b)"
)
_DIGITS_RUN = re.compile(r"(?:\d[\s.\-/]?){8,}")


def name_is_plain(name: str) -> bool:
    """No web or e-mail address, no run of eight digits or more (a phone number), no control
    or invisible formatting character."""
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        return False
    return _URL_LIKE.search(name) is None and _DIGITS_RUN.search(name) is None


def _einvoicing_address_errors(siren: str, address: str | None) -> list[FieldError]:
    """A directory address (annuaire, scheme 0225) is the agency's SIREN, or SIREN_suffix."""
    if address is None or re.fullmatch(rf"{siren}(_[A-Za-z0-9.+-]{{1,100}})?", address):
        return []
    message = f"An e-invoicing address is your SIREN ({siren}), or {siren}_ and a suffix."
    return [FieldError("einvoicing_address", "invalid_einvoicing_address", message)]


def budget_errors(cents: int | None) -> list[FieldError]:
    if cents is not None and cents < 0:
        return [
            FieldError("monthly_budget_cents", "negative_budget", "A budget cannot be negative.")
        ]
    return []


def _webhook_url_ok(url: str) -> bool:
    """An https URL on a public host. Our server will POST to it: never to an internal address
    (loopback, private, link-local such as cloud metadata), unless a developer allows this
    machine with MANDAT_ALLOW_LOCAL_WEBHOOKS=1. Delivery re-checks the resolved address."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    if not host or len(url) > 2_000:
        return False
    local = host == "localhost" or host.endswith((".localhost", ".local", ".internal"))
    try:
        address = ipaddress.ip_address(host)
        local = local or not is_public_address(address)
    except ValueError:
        pass  # a host name: checked again at delivery, once resolved
    if local:
        return os.environ.get("MANDAT_ALLOW_LOCAL_WEBHOOKS") == "1" and parts.scheme in (
            "http",
            "https",
        )
    return parts.scheme == "https"
