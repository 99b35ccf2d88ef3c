"""Writing notifications: in the transaction of the event, one row per agency and channel.

Every agency gets the e-mail; agencies with a webhook URL also get the signed webhook. The same
event announced twice makes no second message (`uq_outbox_event`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

_ENQUEUE = text("""
    INSERT INTO outbox (agency_id, channel, event, event_key, payload)
    SELECT a.id, ch.channel, :event, :event_key, CAST(:payload AS jsonb)
    FROM agency a
    CROSS JOIN (VALUES ('email'), ('webhook')) AS ch(channel)
    WHERE a.id = ANY(:agencies) AND (ch.channel = 'email' OR a.webhook_url IS NOT NULL)
    ON CONFLICT ON CONSTRAINT uq_outbox_event DO NOTHING
""")


def enqueue(
    session: Session,
    agencies: list[uuid.UUID],
    event: str,
    event_key: str,
    payload: dict[str, Any],
) -> None:
    if not agencies:
        return
    session.execute(
        _ENQUEUE,
        {
            "agencies": agencies,
            "event": event,
            "event_key": event_key,
            "payload": json.dumps({"event": event, **payload}, default=str),
        },
    )


def enqueue_homeowner_mail(
    session: Session, recipient: str, event_key: str, subject: str, body: str
) -> None:
    """An e-mail to a homeowner (not to an agency), delivered like the rest of the outbox."""
    enqueue_mail(session, recipient, "homeowner.mail", event_key, subject, body)


def enqueue_mail(
    session: Session, recipient: str, event: str, event_key: str, subject: str, body: str
) -> None:
    """An e-mail to one address (a homeowner, a person invited…), in plain text."""
    session.execute(
        text("""
            INSERT INTO outbox (recipient, channel, event, event_key, payload)
            VALUES (:to, 'email', :event, :key, CAST(:payload AS jsonb))
            ON CONFLICT DO NOTHING
        """),
        {
            "to": recipient,
            "event": event,
            "key": event_key,
            "payload": json.dumps({"subject": subject, "text": body}),
        },
    )
