"""Delivering the outbox: signed webhooks and e-mails, retried with exponential backoff.

Messages are claimed with `FOR UPDATE SKIP LOCKED`, so several deliverers never send one message
twice at once. A message that still fails 24 hours after it was written is given up, and stays
visible with its last error. Webhooks carry `Mandat-Signature: t=<unix time>,v1=<hex>` where
`v1 = HMAC-SHA256(agency's webhook secret, "<t>.<body>")`: the receiver recomputes it and refuses
old timestamps, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import smtplib
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

log = logging.getLogger("mandat.notify")
GIVE_UP_AFTER = timedelta(hours=24)
FIRST_RETRY_S = 30
MAX_RETRY_S = 3_600
TIMEOUT_S = 10

_DUE = text("""
    SELECT o.id, o.channel, o.event, o.payload, o.attempts, o.created_at,
           a.name AS agency_name, coalesce(o.recipient, a.email) AS email, a.webhook_url,
           a.webhook_secret
    FROM outbox o LEFT JOIN agency a ON a.id = o.agency_id
    WHERE o.delivered_at IS NULL AND o.gave_up_at IS NULL AND o.next_attempt_at <= :now
    ORDER BY o.next_attempt_at, o.id
    LIMIT :limit
    FOR UPDATE OF o SKIP LOCKED
""")


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    given_up: int = 0


def deliver_due(session: Session, now: datetime, limit: int = 100) -> DeliveryReport:
    """Send the messages due at `now` (one batch); the caller commits."""
    delivered = retried = given_up = 0
    for message in session.execute(_DUE, {"now": now, "limit": limit}).mappings().all():
        try:
            if message["channel"] == "webhook":
                send_webhook(message)
            else:
                send_email(message, _attachment(session, message["payload"]))
        except Exception as error:  # noqa: BLE001 - any failure is retried, then given up
            reason = f"{type(error).__name__}: {error}"[:500]
            attempts = message["attempts"] + 1
            if now - message["created_at"] >= GIVE_UP_AFTER:
                given_up += 1
                session.execute(
                    text("""
                        UPDATE outbox SET attempts = :n, last_error = :e, gave_up_at = :now
                        WHERE id = :id
                    """),
                    {"n": attempts, "e": reason, "now": now, "id": message["id"]},
                )
                log.warning("gave up outbox message %s: %s", message["id"], reason)
            else:
                retried += 1
                session.execute(
                    text("""
                        UPDATE outbox SET attempts = :n, last_error = :e, next_attempt_at = :at
                        WHERE id = :id
                    """),
                    {
                        "n": attempts,
                        "e": reason,
                        "at": now + backoff(attempts),
                        "id": message["id"],
                    },
                )
            continue
        delivered += 1
        session.execute(
            text("UPDATE outbox SET attempts = attempts + 1, delivered_at = :now WHERE id = :id"),
            {"now": now, "id": message["id"]},
        )
    return DeliveryReport(delivered, retried, given_up)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … up to an hour between tries."""
    return timedelta(seconds=min(FIRST_RETRY_S * 2 ** (attempts - 1), MAX_RETRY_S))


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def send_webhook(message: Any) -> None:
    url = message["webhook_url"]
    if not url:
        raise RuntimeError("the agency has no webhook URL any more")
    _refuse_internal_address(url)
    body = json.dumps(message["payload"], separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    response = httpx.post(
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Mandat-Webhooks/1",
            "Mandat-Event": message["event"],
            "Mandat-Delivery": str(message["id"]),
            "Mandat-Signature": signature(message["webhook_secret"], timestamp, body),
        },
        timeout=TIMEOUT_S,
        follow_redirects=False,
    )
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"HTTP {response.status_code}")


def _refuse_internal_address(url: str) -> None:
    """The URL was checked when saved; its name may resolve elsewhere now (DNS rebinding)."""
    if os.environ.get("MANDAT_ALLOW_LOCAL_WEBHOOKS") == "1":
        return
    parts = urlsplit(url)
    for info in socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP):
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise RuntimeError(f"{parts.hostname} resolves to an internal address")


def _attachment(session: Session, payload: dict[str, Any]) -> tuple[str, bytes] | None:
    """The stored Factur-X an e-mail carries (the bytes stored at issue, never made again)."""
    if not payload.get("einvoice_id"):
        return None
    row = session.execute(
        text("SELECT number, pdf FROM einvoice WHERE id = :id"), {"id": payload["einvoice_id"]}
    ).one()
    return f"{row.number}.pdf", bytes(row.pdf)


SUBJECTS = {
    "lead.offered": "Nouveau contact vendeur dans votre zone",
    "lead.shared": "Un contact vendeur est désormais disponible en partagé",
    "purchase.created": "Votre achat de contact vendeur",
    "einvoice.issued": "Votre facture Mandat",
}


def send_email(message: Any, attachment: tuple[str, bytes] | None = None) -> None:
    smtp_url = os.environ.get("SMTP_URL")
    if not smtp_url:
        raise RuntimeError("SMTP_URL is not set")
    payload = message["payload"]
    mail = EmailMessage()
    mail["From"] = os.environ.get("MANDAT_MAIL_FROM", "Mandat <no-reply@mandat.example>")
    mail["To"] = message["email"]
    mail["Subject"] = payload.get("subject") or SUBJECTS.get(message["event"], "Mandat")
    mail["Message-ID"] = f"<outbox-{message['id']}@mandat.example>"
    body = payload.get("text") or _email_text(message["agency_name"], message["event"], payload)
    mail.set_content(body)
    if attachment:
        mail.add_attachment(
            attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
        )
    parts = urlsplit(smtp_url)
    smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with smtp_class(parts.hostname or "localhost", parts.port or 25, timeout=TIMEOUT_S) as smtp:
        if parts.scheme == "smtp+starttls":
            smtp.starttls()
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(mail)


def _email_text(agency: str, event: str, payload: dict[str, Any]) -> str:
    """Plain French, no personal data: the homeowner's details are read in the API."""
    price = f"{payload.get('price_cents', 0) / 100:.2f} € HT".replace(".", ",")
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
    elif event == "purchase.created":
        lines += [
            f"Votre achat {payload.get('purchase_id')} est confirmé ({price}). Les coordonnées "
            "du propriétaire sont dans votre espace Mandat (GET /api/v1/purchases).",
        ]
    lines += ["", "— Mandat"]
    return "\n".join(lines)
