"""The e-mails Mandat has written, as a person would read them: for the development mailbox
page (`/dev/mail`), so that no SMTP server is needed to see what the product sends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.notify.mail import subject_and_body


@dataclass(frozen=True)
class Mail:
    id: int
    to: str
    subject: str
    body: str
    written_at: datetime
    state: str  # waiting, sent, given up


def recent_mails(session: Session, limit: int = 50) -> list[Mail]:
    rows = session.execute(
        text("""
            SELECT o.id, o.event, o.payload, o.created_at, a.name AS agency_name,
                   coalesce(o.recipient, a.email) AS email,
                   CASE WHEN o.delivered_at IS NOT NULL THEN 'sent'
                        WHEN o.gave_up_at IS NOT NULL THEN 'given up' ELSE 'waiting' END AS state
            FROM outbox o LEFT JOIN agency a ON a.id = o.agency_id
            WHERE o.channel = 'email'
            ORDER BY o.id DESC LIMIT :limit
        """),
        {"limit": limit},
    ).mappings()
    mails = []
    for row in rows:
        subject, body = subject_and_body(row)
        mails.append(Mail(row["id"], row["email"], subject, body, row["created_at"], row["state"]))
    return mails
