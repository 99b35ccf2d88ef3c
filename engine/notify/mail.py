"""E-mails through the relay SMTP_URL names: certificates verified, passwords never in clear.

`smtps://` speaks TLS from the first byte, `smtp+starttls://` upgrades before anything else is
said; both verify the relay's certificate against its name (the public CAs, or SSL_CERT_FILE).
Plain `smtp://` is for a relay on the same host or network without a password: with a
`user:password@` in the URL it is refused, since an on-path attacker would read the password
(and every homeowner's private link after it).
"""

from __future__ import annotations

import os
import re
import smtplib
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from engine.money import format_euros
from engine.notify.webhooks import tls_context

TIMEOUT_S = 10

SUBJECTS = {
    "lead.offered": "Nouveau contact vendeur dans votre zone",
    "lead.shared": "Un contact vendeur est désormais disponible en partagé",
    "purchase.created": "Votre achat de contact vendeur",
    "einvoice.issued": "Votre facture Mandat",
    "lead.disowned": "Contact retiré : le propriétaire n'a pas fait cette demande",
}

_ADDRESS = re.compile(r"[^\s<>()\"',;:]+@[^\s<>()\"',;:]+")


class MailRefused(RuntimeError):
    """The relay's configuration would expose a secret."""


def redact_addresses(error: str) -> str:
    """An error text without e-mail addresses (relays quote the recipient in their refusals)."""
    return _ADDRESS.sub("<address>", error)


def send_email(message: Any, attachment: tuple[str, bytes] | None = None) -> None:
    smtp_url = os.environ.get("SMTP_URL")
    if not smtp_url:
        raise RuntimeError("SMTP_URL is not set")
    parts = urlsplit(smtp_url)
    if parts.scheme not in ("smtp", "smtps", "smtp+starttls"):
        raise MailRefused(f"SMTP_URL: unknown scheme {parts.scheme}://")
    if parts.scheme == "smtp" and parts.username:
        raise MailRefused(
            "SMTP_URL sends a password over plain smtp://: use smtps:// or smtp+starttls://"
        )
    mail = _compose(message, attachment)
    host, port = parts.hostname or "localhost", parts.port
    smtp: smtplib.SMTP
    if parts.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, port or 465, timeout=TIMEOUT_S, context=tls_context())
    else:
        smtp = smtplib.SMTP(host, port or 25, timeout=TIMEOUT_S)
    with smtp:
        if parts.scheme == "smtp+starttls":
            smtp.starttls(context=tls_context())
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(mail)


def _compose(message: Any, attachment: tuple[str, bytes] | None) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = os.environ.get("MANDAT_MAIL_FROM", "Mandat <no-reply@mandat.example>")
    mail["To"] = message["email"]
    subject, body = subject_and_body(message)
    mail["Subject"] = subject
    mail["Message-ID"] = f"<outbox-{message['id']}@mandat.example>"
    mail.set_content(body)
    if attachment:
        mail.add_attachment(
            attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
        )
    return mail


def subject_and_body(message: Any) -> tuple[str, str]:
    """What an outbox e-mail says: its own subject and text, or the agency event's wording."""
    payload = message["payload"]
    subject = payload.get("subject") or SUBJECTS.get(message["event"], "Mandat")
    body = payload.get("text") or _email_text(message["agency_name"], message["event"], payload)
    return subject, body


def _email_text(agency: str, event: str, payload: dict[str, Any]) -> str:
    """Plain French, no personal data: the homeowner's details are read in the API."""
    price = f"{format_euros(int(payload.get('price_cents', 0)))} HT"
    lines = [f"Bonjour {agency},", ""]
    if event in ("lead.offered", "lead.shared"):
        mode = "en exclusivité" if payload.get("mode") == "exclusive" else "en partagé"
        lines += [
            f"Un propriétaire de la commune {payload.get('commune_code')} souhaite vendre et a "
            f"accepté d'être contacté par votre agence. Le contact est proposé {mode} "
            f"pour {price} (qualité {payload.get('grade')}).",
            f"Référence : {payload.get('lead_id')}",
        ]
    elif event == "einvoice.issued":
        kind = "L'avoir" if payload.get("document") == "credit_note" else "La facture"
        lines += [
            f"{kind} {payload.get('number')} est jointe à ce message, au format Factur-X "
            "(PDF/A-3 contenant la facture électronique XML, profil EN 16931).",
        ]
    elif event == "lead.disowned":
        lines += [
            "La personne dont l'adresse e-mail figure sur ce contact dit ne pas avoir fait cette "
            "demande d'estimation. Le contact est retiré et votre achat "
            f"{payload.get('purchase_id')} vous est remboursé intégralement. Ne contactez pas "
            "cette personne.",
        ]
    elif event == "purchase.created":
        lines += [
            f"Votre achat {payload.get('purchase_id')} est confirmé ({price}). Les coordonnées "
            "du propriétaire sont dans votre espace Mandat (GET /api/v1/purchases).",
        ]
    lines += ["", "— Mandat"]
    return "\n".join(lines)
