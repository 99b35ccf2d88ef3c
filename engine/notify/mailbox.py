"""The e-mails Mandat has written, as a person would read them: for the development mailbox
page (`/dev/mail`), so that no SMTP server is needed to see what the product sends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.db import unit_of_work
from engine.notify.mail import compose
from engine.notify.places import place_of, places


@dataclass(frozen=True)
class Mail:
    id: int
    to: str
    subject: str
    body: str
    written_at: datetime
    state: str  # waiting, sent, given up


def recent_mails(limit: int = 50) -> list[Mail]:
    """The newest e-mails first, each composed as it was (or will be) sent."""
    with unit_of_work() as session:
        return _recent_mails(session, limit)


def _recent_mails(session: Session, limit: int) -> list[Mail]:
    rows = session.execute(
        text("""
            SELECT o.id, o.agency_id, o.event, o.payload, o.created_at, a.name AS agency_name,
                   coalesce(o.recipient, a.email) AS email,
                   CASE WHEN o.delivered_at IS NOT NULL THEN 'sent'
                        WHEN o.gave_up_at IS NOT NULL THEN 'given up' ELSE 'waiting' END AS state
            FROM outbox o LEFT JOIN agency a ON a.id = o.agency_id
            WHERE o.channel = 'email'
            ORDER BY o.id DESC LIMIT :limit
        """),
        {"limit": limit},
    ).mappings()
    messages = [dict(row) for row in rows]
    known = places(session, [m["payload"] for m in messages if m["agency_id"] is not None])
    mails = []
    for message in messages:
        message["place"] = place_of(message["payload"], known)
        letter, body, _ = compose(message)
        mails.append(
            Mail(
                message["id"],
                message["email"],
                letter.subject,
                body,
                message["created_at"],
                message["state"],
            )
        )
    return mails
