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

from engine.notify.agency_letters import agency_letter
from engine.notify.letters import Letter, plain_html, plain_letter
from engine.notify.webhooks import tls_context

TIMEOUT_S = 10

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
    letter, body, html = compose(message)
    mail["Subject"] = letter.subject
    mail["Message-ID"] = f"<outbox-{message['id']}@mandat.example>"
    mail.set_content(body)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    if attachment:
        mail.add_attachment(
            attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
        )
    return mail


def compose(message: Any) -> tuple[Letter, str, str | None]:
    """What an outbox e-mail says: (letter, text body, HTML body or None).

    An agency's event is written from its payload (`agency_letters.agency_letter`, with the lead's
    place when the deliverer found it); a message written elsewhere carries its subject and
    text. A homeowner's e-mail stays plain text only: it carries their private links, and
    nothing in it should be read as markup.
    """
    payload = message["payload"]
    if message.get("agency_id") is not None:
        letter = agency_letter(
            message["event"], message["agency_name"] or "", payload, message.get("place")
        )
        return letter, letter.text(), letter.html()
    letter = plain_letter(payload.get("subject") or "Mandat", payload.get("text") or "")
    if message["event"] == "homeowner.mail":
        return letter, payload.get("text") or "", None
    return letter, payload.get("text") or "", plain_html(letter)
